package ClusterTest;

# Several nginx nodes with the module (each its own prefix, zone and 2
# workers) that share one export store, one run tree and one link key,
# and a plain nginx in front of them without the module: the flows of
# t/cluster.t.  Everything listens on 127.0.0.1.

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);

use ExportTest qw(test_dir slurp);

use Exporter 'import';
our @EXPORT = qw(cluster_dir start_node stop_node kill_node start_front
                 stop_front node_req front_req json_at wait_at
                 simultaneous node_log stop_all throttle unthrottle);

my $nginx_bin = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');

my %running;    # prefix => 1


sub cluster_dir { test_dir() . '/servroot_cluster' }


# the shared parts, made once: store, runs and the link key
sub shared {
    my $dir = cluster_dir();
    make_path("$dir/store", "$dir/runs");
    chmod 0777, "$dir/store";
    unless (-e "$dir/export.key") {
        open my $fh, '>', "$dir/export.key" or die $!;
        print $fh 'k' x 32;
        close $fh;
    }
    return $dir;
}


# start_node(name => 'a', port => N, [lease => '3s', keep => 1])
sub start_node {
    my %o = @_;
    my $dir = shared();
    my $root = "$dir/$o{name}";
    my $lease = $o{lease} || '3s';

    stop_node($o{name}) if $running{$root};
    remove_tree($root) unless $o{keep};
    make_path("$root/conf", "$root/logs");

    my $load = join '', map { "load_module $_;\n" } @modules;
    my $user = $> == 0 ? "user root;\n" : '';
    my $loc = sub {
        my ($prefix, $ttl) = @_;
        return <<"LOC";
        location ~ ^$prefix/v1/system/check-sets/(?<run_id>[^/]+)/exports\$ {
            export_api zone=exports;
            export_run_id \$run_id;
            export_source $dir/runs/\$run_id;
            export_store $dir/store;
            export_thread_pool exports;
            export_ttl $ttl;
        }
        location ~ ^$prefix/v1/system/check-sets/(?<run_id>[^/]+)/exports/file\$ {
            export_download zone=exports;
            export_run_id \$run_id;
        }
        location ~ ^$prefix/v1/system/check-sets/(?<run_id>[^/]+)/exports/data\$ {
            export_data zone=exports;
            export_run_id \$run_id;
        }
LOC
    };

    my $conf = <<"CONF";
$load${user}worker_processes 2;
master_process on;
daemon on;
error_log logs/error.log info;
pid logs/nginx.pid;
thread_pool exports threads=2 max_queue=1024;
thread_pool default threads=2;
events { worker_connections 1024; accept_mutex off; }
http {
    access_log logs/access.log;
    export_zone exports:4m;
    export_node $o{name};
    export_lease $lease;
    export_link_secret $dir/export.key;
    server {
        listen 127.0.0.1:$o{port} reuseport;
        add_header X-Node $o{name} always;
@{[ $loc->('', '1h') ]}
@{[ $loc->('/short', '4s') ]}
        location = /status { export_status; }

        # the other API styles, as t/styles.t configures them
        location = /arcgis/admin/healthCheck/reports/export {
            export_api zone=exports style=arcgis;
            export_source $dir/runs/\$export_run_id;
            export_store $dir/store;
            export_thread_pool exports;
            export_job_uri http://127.0.0.1/arcgis/admin/jobs/\$export_job_id;
            export_download_uri /exports/file;
        }
        location ~ ^/arcgis/admin/jobs/(?<job>[^/]+)\$ {
            export_api zone=exports style=arcgis;
            export_task_id \$job;
            export_download_uri /exports/file;
        }
        location = /services/rest/v1/export/job/status {
            export_api zone=exports style=uniware;
            export_download_uri /exports/file;
        }
        location ~ ^/api/v1/user_identities/[^/]+/exports/(?<e>[^/]+)/export_files\$ {
            export_api zone=exports style=webadmit;
            export_run_id \$e;
            export_source $dir/runs/\$export_run_id;
            export_store $dir/store;
            export_thread_pool exports;
            export_download_uri /exports/file;
        }
        location ~ ^/api/v1/exports/(?<e>[^/]+)/export_files/(?<f>[^/]+)\$ {
            export_api zone=exports style=webadmit;
            export_run_id \$e;
            export_task_id \$f;
            export_download_uri /exports/file;
        }
        location = /exports/file {
            export_download zone=exports;
        }
    }
}
CONF
    open my $fh, '>', "$root/conf/nginx.conf" or die $!;
    print $fh $conf;
    close $fh;

    my $out = `$nginx_bin -p $root/ -c conf/nginx.conf 2>&1`;
    die "node $o{name} failed to start: $out\n" if $?;
    $running{$root} = 1;

    for (1 .. 100) {
        my $r = HTTP::Tiny->new(timeout => 1)
                          ->get("http://127.0.0.1:$o{port}/nothing-here");
        last if $r->{status} != 599;
        sleep 0.05;
    }

    return { name => $o{name}, port => $o{port}, root => $root };
}


sub master_pid {
    my ($root) = @_;
    my $pid = slurp("$root/logs/nginx.pid");
    chomp $pid;
    return $pid;
}


sub stop_prefix {
    my ($root) = @_;
    my $pid = master_pid($root);
    if ($pid && kill 0, $pid) {
        kill 'QUIT', $pid;
        for (1 .. 200) {
            last unless kill 0, $pid;
            sleep 0.05;
        }
        kill 'KILL', $pid, workers_of($pid) if kill 0, $pid;
    }
    delete $running{$root};
}


sub stop_node { stop_prefix(cluster_dir() . "/$_[0]") }


sub workers_of {
    my ($pid) = @_;
    return map { /^\s*(\d+)/ ? $1 : () } `ps -o pid= --ppid $pid`;
}


# the master and workers of a node
sub node_pids {
    my ($node) = @_;
    my $pid = master_pid($node->{root});
    return ($pid, workers_of($pid));
}


# A slow node: its processes are stopped 80% of the time (SIGSTOP and
# SIGCONT, 100 ms a cycle), so that a build that a fast deflate ends in
# a second lasts several, while its heartbeat, every second, goes on.
my %throttlers;

sub throttle {
    my ($node) = @_;
    my @pids = node_pids($node);
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        $SIG{TERM} = sub { kill 'CONT', @pids; POSIX::_exit(0) };
        while (1) {
            kill 'STOP', @pids;
            select(undef, undef, undef, 0.08);
            kill 'CONT', @pids;
            select(undef, undef, undef, 0.02);
        }
    }
    $throttlers{ $node->{root} } = $pid;
}

sub unthrottle {
    my ($node) = @_;
    my $pid = delete $throttlers{ $node->{root} } or return;
    kill 'TERM', $pid;
    waitpid($pid, 0);
    kill 'CONT', node_pids($node);
}


# the whole node at once, master and workers, as a machine that dies
sub kill_node {
    my ($node) = @_;
    unthrottle($node);
    my $pid = master_pid($node->{root});
    my @pids = ($pid, workers_of($pid));
    kill 'KILL', @pids;
    for (1 .. 100) {
        last unless grep { kill 0, $_ } @pids;
        sleep 0.05;
    }
    delete $running{ $node->{root} };
    return !grep { kill 0, $_ } @pids;
}


# a plain nginx in front: round-robin, or "hash $run_id consistent"
sub start_front {
    my (%o) = @_;
    my $root = cluster_dir() . '/front';
    stop_prefix($root) if $running{$root};
    remove_tree($root);
    make_path("$root/conf", "$root/logs");

    my $user = $> == 0 ? "user root;\n" : '';
    my $hash = $o{hash} ? '        hash $run_id consistent;' : '';
    my $servers = join '', map { "        server 127.0.0.1:$_;\n" }
                           @{ $o{nodes} };
    open my $fh, '>', "$root/conf/nginx.conf" or die $!;
    print $fh <<"CONF";
${user}worker_processes 1;
master_process on;
daemon on;
error_log logs/error.log info;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log logs/access.log;
    map \$uri \$run_id {
        ~^(/short)?/v1/system/check-sets/(?<r>[^/]+)/ \$r;
        default \$uri;
    }
    upstream nodes {
$hash
$servers    }
    server {
        listen 127.0.0.1:$o{port};
        location / {
            proxy_pass http://nodes;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 1s;
        }
    }
}
CONF
    close $fh;

    my $out = `$nginx_bin -p $root/ -c conf/nginx.conf 2>&1`;
    die "the front failed to start: $out\n" if $?;
    $running{$root} = 1;
    return { port => $o{port}, root => $root };
}


sub stop_front { stop_prefix(cluster_dir() . '/front') }


sub stop_all {
    for my $root (keys %throttlers) {
        my $pid = delete $throttlers{$root};
        kill 'TERM', $pid;
        waitpid($pid, 0);
    }
    stop_prefix($_) for keys %running;
}

END { stop_all() }


sub node_req {
    my ($node, $method, $path, $headers, $body) = @_;
    my $ua = HTTP::Tiny->new(timeout => 60, keep_alive => 0);
    my %o = (headers => $headers || {});
    $o{content} = $body if defined $body;
    return $ua->request($method, "http://127.0.0.1:$node->{port}$path", \%o);
}


sub front_req { node_req(@_) }


sub json_at {
    my ($res) = @_;
    return eval { JSON::PP->new->decode($res->{content}) };
}


# the status of a run at a node (or the front) until it is finished
sub wait_at {
    my ($node, $path, $secs) = @_;
    my $deadline = time + ($secs || 60);
    my $t;
    while (time < $deadline) {
        $t = json_at(node_req($node, 'GET', "$path?wait=2"));
        last if $t && $t->{status} && $t->{status} =~ /^(COMPLETED|FAILED)$/;
        sleep 0.1;
    }
    return $t;
}


# the same request to several nodes at once: connections made first,
# then every request written, then every answer read
sub simultaneous {
    my ($method, $path, @nodes) = @_;
    my @socks = map {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $_->{port},
                              Proto => 'tcp', Timeout => 5)
            or die "connect: $!"
    } @nodes;

    for my $s (@socks) {
        syswrite $s, "$method $path HTTP/1.0\r\nHost: localhost\r\n"
                     . "Content-Length: 0\r\n\r\n";
    }

    my @out;
    for my $s (@socks) {
        my $buf = '';
        while (sysread $s, my $chunk, 65536) {
            $buf .= $chunk;
        }
        close $s;
        my ($head, $body) = split /\r\n\r\n/, $buf, 2;
        my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
        push @out, { status => $status, content => $body // '' };
    }
    return @out;
}


sub node_log { slurp("$_[0]{root}/logs/error.log") }


1;
