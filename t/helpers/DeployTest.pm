package DeployTest;

# Helpers for t/deploy.t: whole nginx configurations read from
# t/deploy/*.conf (the same files docs/deployment.md shows), several
# nginx instances at once, a small HTTP backend of our own
# (HTTP::Daemon in a child process), and a full export checked from
# POST to `unzip -t`.  Everything started here is stopped at the end,
# also when a test dies half way.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(_exit WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

use Exporter 'import';
our @EXPORT = qw(conf_text start_server stop_server start_backend
                 backend_log make_run_dir full_export slurp spew
                 wait_port $NGINX $MODULE);

our $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
our $MODULE = $ENV{EXPORT_MODULE}
    || (split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || ''))[0]
    || abs_path('build/nginx/objs') . '/ngx_http_export_module.so';

my $DIR = abs_path(__FILE__ =~ s{/helpers/[^/]+$}{}r);

my (@servers, @backends);

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or return '';
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($file, $data) = @_;
    open my $fh, '>:raw', $file or die "$file: $!";
    print $fh $data;
    close $fh or die "$file: $!";
}

# the text of t/deploy/NAME with the placeholders filled in
sub conf_text {
    my ($name, %v) = @_;
    my $text = slurp("$DIR/deploy/$name");
    die "t/deploy/$name is missing or empty\n" unless length $text;
    $text =~ s/\@([A-Z]+)\@/
        defined $v{$1} ? $v{$1} : die "no value for \@$1\@ in $name\n"/ge;
    return $text;
}

sub wait_port {
    my ($port, $secs) = @_;
    my $deadline = time + ($secs || 5);
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Timeout => 1);
        if ($s) {
            close $s;
            return 1;
        }
        sleep 0.05;
    }
    return 0;
}

# a process that has exited but is not reaped yet (a zombie) is gone
sub alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    my $stat = slurp("/proc/$pid/stat");
    return $stat !~ /^\d+ \(.*\) Z /s;
}

# stops the process named in a pid file of ours, if it is still the
# kind of process we started there (a pid may have been reused since)
sub kill_pidfile {
    my ($file, $like) = @_;
    my $pid = slurp($file);
    $pid =~ s/\s+//g;
    return unless $pid && $pid =~ /^\d+$/ && alive($pid);
    my $cmd = slurp("/proc/$pid/cmdline") =~ tr/\0/ /r;
    return unless $cmd =~ ($like || qr/nginx/);
    kill 'QUIT', $pid;
    for (1 .. 200) {
        # a child of ours (the backend) must be reaped
        waitpid $pid, WNOHANG;
        last unless alive($pid);
        sleep 0.05;
    }
    if (alive($pid)) {
        kill 'KILL', $pid;
        waitpid $pid, WNOHANG;
    }
}

# start_server(root => DIR, conf => TEXT, port => N,
#              files => { 'conf/x' => bytes }, setup => sub { ROOT })
# writes ROOT/conf/nginx.conf, checks it with nginx -t and starts nginx
# with ROOT as its prefix.  Returns { root, port, test_output }.
sub start_server {
    my %o = @_;
    my $root = $o{root};

    # a master left over by an earlier run that died
    kill_pidfile("$root/logs/nginx.pid", qr/nginx.*\Q$root\E/);

    remove_tree($root);
    make_path(map { "$root/$_" } qw(conf logs runs store));

    # the workers run as www-data (the Debian user) when we are root:
    # the store is theirs, as docs/operations.md asks
    if ($> == 0) {
        my ($uid, $gid) = (getpwnam('www-data'))[2, 3];
        chown $uid, $gid, "$root/store" if defined $uid;
    } else {
        chmod 0777, "$root/store";
    }

    for my $f (sort keys %{ $o{files} || {} }) {
        my $path = "$root/$f";
        make_path($path =~ s{/[^/]+$}{}r);
        spew($path, $o{files}{$f});
        # keys are for the master's eyes only
        chmod 0600, $path if $f =~ /\.key$/;
    }
    $o{setup}->($root) if $o{setup};

    spew("$root/conf/nginx.conf", $o{conf});

    my $out = `$NGINX -p $root/ -c conf/nginx.conf -t 2>&1`;
    die "nginx -t failed for $root:\n$out\n" if $?;
    my $test_output = $out;

    push @servers, $root;
    $out = `$NGINX -p $root/ -c conf/nginx.conf 2>&1`;
    die "nginx failed to start in $root:\n$out\n" if $?;

    wait_port($o{port}) or die "nginx in $root does not listen on $o{port}\n";

    return { root => $root, port => $o{port}, test_output => $test_output };
}

sub stop_server {
    my ($n) = @_;
    my $root = ref $n ? $n->{root} : $n;
    kill_pidfile("$root/logs/nginx.pid", qr/nginx.*\Q$root\E/);
    @servers = grep { $_ ne $root } @servers;
}

# start_backend(port => N, root => DIR, handler => sub { HTTP::Request })
# runs an HTTP::Daemon in a child process.  The handler returns an
# HTTP::Response.  Every request is logged to DIR/backend.log as
# "METHOD URI\tAuthorization\tX-Original-URI" for backend_log().
sub start_backend {
    my %o = @_;
    require HTTP::Daemon;
    require HTTP::Response;

    my $pidfile = "$o{root}/backend.pid";
    kill_pidfile($pidfile, qr/perl/);
    make_path($o{root});
    my $log = "$o{root}/backend.log";
    spew($log, '');

    my $d = HTTP::Daemon->new(LocalAddr => '127.0.0.1', LocalPort => $o{port},
                              ReuseAddr => 1, Listen => 64)
        or die "backend cannot listen on 127.0.0.1:$o{port}: $!\n";

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        $SIG{TERM} = sub { _exit(0) };
        while (my $c = $d->accept) {
            $c->timeout(10);
            while (my $r = $c->get_request) {
                if (open my $fh, '>>', $log) {
                    printf $fh "%s %s\t%s\t%s\n", $r->method, $r->uri,
                        $r->header('Authorization') // '',
                        $r->header('X-Original-URI') // '';
                    close $fh;
                }
                my $res = eval { $o{handler}->($r) }
                    || HTTP::Response->new(500, 'handler failed', [], "$@");
                $c->send_response($res);
            }
            $c->close;
        }
        _exit(0);
    }

    close $d;
    spew($pidfile, "$pid\n");
    push @backends, $pidfile;
    wait_port($o{port}) or die "backend does not listen on $o{port}\n";
    return $pid;
}

sub backend_log {
    my ($root) = @_;
    return [ map { [ split /\t/, $_, -1 ] } split /\n/, slurp("$root/backend.log") ];
}

END {
    my $rc = $?;
    kill_pidfile("$_/logs/nginx.pid", qr/nginx.*\Q$_\E/) for @servers;
    kill_pidfile($_, qr/perl/) for @backends;
    $? = $rc;
}

# make_run_dir(ROOT, RUN, { name => bytes }): the run's reports
sub make_run_dir {
    my ($root, $run, $files) = @_;
    my $dir = "$root/runs/$run";
    make_path($dir);
    spew("$dir/$_", $files->{$_}) for keys %$files;
    return $dir;
}

# full_export(ua => HTTP::Tiny, base => 'http://127.0.0.1:N', run => UUID,
#             headers => {...}, link_headers => {...}, reports => [names],
#             what => 'label', post => response of a POST already made)
# POST 202 -> GET ?wait until COMPLETED -> GET the signed link ->
# `unzip -t` and the list of entries.  Returns the final status.
sub full_export {
    my %o = @_;
    my $ua = $o{ua};
    my $what = $o{what} || 'export';
    my $path = "/v1/system/check-sets/$o{run}/exports";
    my $h = { headers => $o{headers} || {} };

    my $res = $o{post} || $ua->request('POST', "$o{base}$path", $h);
    is($res->{status}, 202, "$what: POST answers 202")
        or diag "$res->{status} $res->{content}";
    is($res->{headers}{location}, $path, "$what: Location is the status path");
    my $t = eval { decode_json($res->{content}) } || {};
    like($t->{status} // '', qr/^(NOT_STARTED|QUEUED|IN_PROGRESS|COMPLETED)$/,
         "$what: the POST answer is a task");

    my $deadline = time + 60;
    while (time < $deadline) {
        $res = $ua->request('GET', "$o{base}$path?wait=10", $h);
        $t = eval { decode_json($res->{content}) } || {};
        last if $res->{status} != 200
                || ($t->{status} // '') =~ /^(COMPLETED|FAILED)$/;
    }
    is($res->{status}, 200, "$what: GET ?wait answers 200");
    is($t->{status}, 'COMPLETED', "$what: the export is COMPLETED")
        or diag explain $t;

    my $url = $t->{downloadUrl} // '';
    like($url, qr{^\Q$path\E/file\?task=[0-9a-f-]{36}&expires=\d+&signature=[A-Za-z0-9_-]{43}$},
         "$what: downloadUrl is a signed link under the status path");

    my $tmp = tempdir(CLEANUP => 1);
    my $zip = "$tmp/export.zip";
    $res = $ua->request('GET', "$o{base}$url",
                        { headers => $o{link_headers} || {} });
    is($res->{status}, 200, "$what: the signed link answers 200")
        or diag "$res->{status} $res->{content}";
    is($res->{headers}{'content-type'}, 'application/zip',
       "$what: the link serves a zip");
    spew($zip, $res->{content});
    my $out = `unzip -t '$zip' 2>&1`;
    is($?, 0, "$what: unzip -t passes") or diag $out;

    my @entries = sort split /\n/, `unzip -Z1 '$zip' 2>/dev/null`;
    my @want = sort('manifest.json', map { ($_, s/\.(nd)?json$/.csv/r) }
                                     @{ $o{reports} || [] });
    is_deeply(\@entries, \@want, "$what: the archive holds the reports, "
              . "their CSV and the manifest");
    return $t;
}

1;
