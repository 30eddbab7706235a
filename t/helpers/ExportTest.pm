package ExportTest;

# Helpers for the export module's tests: an nginx of our own for the
# flow tests that do not fit data blocks (several workers, kills, many
# requests), an HTTP client, run directories, archive checks with tools
# we did not write, and field-by-field JSON checks.

use strict;
use warnings;

use Cwd qw(abs_path getcwd);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

use Exporter 'import';
our @EXPORT = qw(start_nginx stop_nginx http_req json_of make_run
                 test_dir
                 check_task check_error check_zip zip_entries zip_names
                 strict_json expected_csv wait_status wait_status_at slurp
                 $UUID_RE);

our $UUID_RE = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

my $nginx_bin = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
our $current;

# Where servers of the tests live: t/, unless some directory above it
# cannot be entered by others (a checkout under a 0700 directory, as
# mktemp -d makes), where workers that run as nobody or www-data could
# not reach their store; then a directory of /tmp.
sub test_dir {
    my $t = abs_path('t');
    my $dir = $t;
    while ($dir ne '/' && $dir ne '') {
        my $mode = (stat $dir)[2];
        return _tmp_test_dir() unless defined $mode && ($mode & 0001);
        $dir =~ s{/[^/]*$}{};
    }
    return $t;
}

sub _tmp_test_dir {
    my $d = "/tmp/export-module-tests-$>";
    make_path($d);
    chmod 0755, $d;
    return $d;
}

# start_nginx(port => N, workers => 2, http => '...', server => '...',
#             main => '...', log_level => 'debug') returns a hash: root,
#             port, pid.
sub start_nginx {
    my %o = @_;
    my $port = $o{port} || 1985;
    my $root = $o{root} || test_dir() . "/servroot_flow_$port";

    stop_nginx() if $current;

    # an nginx left over by an earlier run that died would share the
    # port (reuseport) and answer half of the requests
    $current = { root => $root };
    stop_nginx();

    remove_tree($root) unless $o{keep};
    make_path("$root/conf", "$root/logs", "$root/runs", "$root/store");

    # workers that are not root write the store too
    chmod 0777, "$root/store";

    # files the configuration needs before the start (keys, ...)
    for my $f (keys %{ $o{files} || {} }) {
        open my $fh, '>:raw', "$root/$f" or die "$root/$f: $!";
        print $fh $o{files}{$f};
        close $fh;
    }

    # @ROOT@ in the configuration parts stands for the server root
    for my $k (qw(main http server api)) {
        $o{$k} =~ s/\@ROOT\@/$root/g if defined $o{$k};
    }

    my $workers = $o{workers} || 2;
    my $user = ($> == 0 && ($o{root_user} // 1)) ? "user root;\n" : '';
    my $load = join '', map { "load_module $_;\n" } @modules;
    my $conf = <<"CONF";
$load${user}worker_processes $workers;
master_process on;
daemon on;
error_log logs/error.log @{[ $o{log_level} || 'debug' ]};
pid logs/nginx.pid;
thread_pool exports threads=2 max_queue=1024;
@{[ $o{main} || '' ]}
events { worker_connections 1024; accept_mutex off; }
http {
    access_log logs/access.log;
    default_type text/plain;
    export_zone exports:@{[ $o{zone} || '4m' ]};
@{[ $o{http} || '' ]}
    server {
        listen 127.0.0.1:$port reuseport;
        add_header X-Worker \$pid always;
@{[ $o{server} || default_locations($root, $o{api} || '',
                                    $o{store} || "$root/store") ]}
    }
}
CONF
    open my $fh, '>', "$root/conf/nginx.conf" or die $!;
    print $fh $conf;
    close $fh;

    my $out = `$nginx_bin -p $root/ -c conf/nginx.conf 2>&1`;
    die "nginx failed to start: $out\n" if $?;

    my $n = { root => $root, port => $port };
    $current = $n;

    # wait until it answers
    for (1 .. 100) {
        my $r = HTTP::Tiny->new(timeout => 1)
                          ->get("http://127.0.0.1:$port/nothing-here");
        last if $r->{status} != 599;
        sleep 0.05;
    }

    return $n;
}

sub default_locations {
    my ($root, $api, $store) = @_;
    return <<"LOC";
        location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports\$ {
            export_api zone=exports;
            export_run_id \$run_id;
            export_source $root/runs/\$run_id;
            export_store $store;
            export_thread_pool exports;
            export_link_ttl 30s;
            $api
        }
        location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports/file\$ {
            export_download zone=exports;
            export_run_id \$run_id;
        }
        location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports/data\$ {
            export_data zone=exports;
            export_run_id \$run_id;
        }
LOC
}

sub master_pid {
    my ($n) = @_;
    open my $fh, '<', "$n->{root}/logs/nginx.pid" or return;
    my $pid = <$fh>;
    chomp $pid;
    return $pid;
}

sub stop_nginx {
    my $n = $current or return;
    my $pid = master_pid($n);
    if ($pid && kill 0, $pid) {
        kill 'QUIT', $pid;
        for (1 .. 100) {
            last unless kill 0, $pid;
            sleep 0.05;
        }
        kill 'KILL', $pid if kill 0, $pid;
    }
    undef $current;
}

END { stop_nginx() }

# http_req(METHOD, PATH, [headers]) -> HTTP::Tiny response; each call
# opens a new connection, so requests spread over the workers.
sub http_req {
    my ($method, $path, $headers) = @_;
    my $port = $current->{port};
    my $ua = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
    return $ua->request($method, "http://127.0.0.1:$port$path",
                        { headers => $headers || {} });
}

sub json_of {
    my ($res) = @_;
    my $v = eval { JSON::PP->new->decode($res->{content}) };
    return $v;
}

# make_run(ROOT, UUID, { name => content, ... }, [mtime])
sub make_run {
    my ($root, $run, $files, $mtime) = @_;
    my $dir = "$root/runs/$run";
    make_path($dir);
    for my $name (keys %$files) {
        open my $fh, '>:raw', "$dir/$name" or die "$dir/$name: $!";
        print $fh $files->{$name};
        close $fh;
        utime $mtime, $mtime, "$dir/$name" if $mtime;
    }
    return $dir;
}

# checks an ExportTaskRest object field by field
sub check_task {
    my ($t, $run, $what) = @_;
    $what ||= 'task';
    ok(ref $t eq 'HASH', "$what is a JSON object") or return;
    like($t->{status}, qr/^(NOT_STARTED|QUEUED|IN_PROGRESS|COMPLETED|FAILED)$/,
         "$what status is one of the states");
    ok(!JSON::PP::is_bool($t->{progress}) && defined $t->{progress}
       && $t->{progress} =~ /^\d+(\.\d+)?$/
       && $t->{progress} >= 0 && $t->{progress} <= 100,
       "$what progress is a number 0..100");
    like($t->{startTimestamp}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
         "$what startTimestamp is RFC 3339 UTC");
    like($t->{id}, $UUID_RE, "$what id is a UUID");
    is($t->{runId}, $run, "$what runId") if $run;
    ok(ref $t->{warnings} eq 'ARRAY', "$what warnings is an array");

    if ($t->{status} eq 'COMPLETED' || $t->{status} eq 'FAILED') {
        like($t->{endTimestamp}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
             "$what endTimestamp is set when finished");
    } else {
        ok(!defined $t->{endTimestamp}, "$what endTimestamp is null");
    }

    if ($t->{status} eq 'COMPLETED') {
        is($t->{progress}, 100, "$what progress is 100 when COMPLETED");
        like($t->{downloadUrl},
             qr{^/v1/system/check-sets/\Q$t->{runId}\E/exports/file\?task=\Q$t->{id}\E&expires=\d+&signature=[A-Za-z0-9_-]{43}$},
             "$what downloadUrl is a signed link");
        like($t->{downloadUrlExpiresAt},
             qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
             "$what downloadUrlExpiresAt");
        like($t->{size}, qr/^\d+$/, "$what size");
    } else {
        ok(!exists $t->{downloadUrl}, "$what has no downloadUrl yet");
        cmp_ok($t->{progress}, '<', 100, "$what progress below 100");
    }

    if ($t->{status} eq 'FAILED') {
        ok(ref $t->{error} eq 'HASH', "$what error object");
        ok(length($t->{error}{message} // '') > 0, "$what error message");
        ok(length($t->{error}{remediationMessage} // '') > 0,
           "$what error remediationMessage");
        like($t->{error}{referenceToken}, $UUID_RE,
             "$what error referenceToken");
    } else {
        ok(!exists $t->{error}, "$what has no error");
    }
}

# checks the API's Error object field by field
sub check_error {
    my ($res, $status, $code, $what) = @_;
    $what ||= $code;
    is($res->{status}, $status, "$what: HTTP $status");
    like($res->{headers}{'content-type'} // '', qr{^application/json},
         "$what: JSON body");
    my $e = json_of($res);
    ok(ref $e eq 'HASH', "$what: Error object") or return;
    is($e->{errorCode}, $code, "$what: errorCode");
    ok(defined $e->{errorType} && !ref $e->{errorType}, "$what: errorType");
    ok(ref $e->{arguments} eq 'ARRAY', "$what: arguments array");
    ok(ref $e->{context} eq 'HASH', "$what: context object");
    ok(length($e->{message} // '') > 0, "$what: message");
    ok(length($e->{remediationMessage} // '') > 0,
       "$what: remediationMessage");
    like($e->{referenceToken}, $UUID_RE, "$what: referenceToken");
    return $e;
}

# polls until the task is finished; returns the last ExportTaskRest
sub wait_status {
    my ($run, $secs) = @_;
    my $deadline = time + ($secs || 30);
    my $t;
    while (time < $deadline) {
        my $res = http_req('GET',
                           "/v1/system/check-sets/$run/exports?wait=5");
        $t = json_of($res);
        last if $t && $t->{status} && $t->{status} =~ /^(COMPLETED|FAILED)$/;
        sleep 0.05;
    }
    return $t;
}

# the same for a status URL of any location: PREFIX/exports
sub wait_status_at {
    my ($prefix, $secs) = @_;
    my $deadline = time + ($secs || 30);
    my $t;
    while (time < $deadline) {
        $t = json_of(http_req('GET', "$prefix/exports?wait=5"));
        last if $t && $t->{status} && $t->{status} =~ /^(COMPLETED|FAILED)$/;
        sleep 0.05;
    }
    return $t;
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<:raw', $file or return '';
    local $/;
    return <$fh>;
}

# the three outside tools agree that the archive is whole
sub check_zip {
    my ($file, $what) = @_;
    $what ||= $file;
    my $out = `unzip -t -qq '$file' 2>&1`;
    is($?, 0, "$what: unzip -t passes") or diag $out;
    $out = `python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
sys.exit("bad entry: %s" % bad if bad else 0)' '$file' 2>&1`;
    is($?, 0, "$what: python zipfile testzip passes") or diag $out;
    $out = `bsdtar -tf '$file' 2>&1`;
    is($?, 0, "$what: bsdtar -t passes") or diag $out;
}

# name => bytes of every entry, read with python's zipfile
sub zip_entries {
    my ($file) = @_;
    my $json = `python3 -c 'import sys, json, zipfile, base64
z = zipfile.ZipFile(sys.argv[1])
print(json.dumps({i.filename: base64.b64encode(z.read(i)).decode()
                  for i in z.infolist()}))' '$file'`;
    my $h = JSON::PP->new->decode($json);
    require MIME::Base64;
    return { map { $_ => MIME::Base64::decode_base64($h->{$_}) } keys %$h };
}

# [name, UTF-8 flag set] of every entry in archive order, read with
# python's zipfile (which decodes a flagged name as strict UTF-8)
sub zip_names {
    my ($file) = @_;
    my $json = `python3 -c 'import sys, json, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(json.dumps([[i.filename, bool(i.flag_bits & 0x800)]
                  for i in z.infolist()]))' '$file'`;
    return JSON::PP->new->decode($json);
}

# strict_json(BYTES) -> (value, undef) or (undef, why): BYTES decoded as
# strict UTF-8 and parsed by python's json with strict=True, also
# refusing duplicate keys, NaN and Infinity, and \u escapes of lone
# surrogates; strings in the value are perl character strings.
sub strict_json {
    my ($bytes) = @_;
    my $tmp = File::Temp->new;
    binmode $tmp;
    print $tmp $bytes;
    close $tmp;
    open my $ph, '-|', 'python3', '-c', <<'PY', $tmp->filename or die $!;
import sys, json
def pairs(kv):
    if len(set(k for k, _ in kv)) != len(kv):
        raise ValueError("duplicate key")
    return dict(kv)
def const(c):
    raise ValueError("not JSON: " + c)
def walk(v):
    if isinstance(v, str):
        v.encode("utf-8")
    elif isinstance(v, dict):
        for k, x in v.items():
            walk(k)
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
try:
    v = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"),
                   strict=True, object_pairs_hook=pairs,
                   parse_constant=const)
    walk(v)
except Exception as e:
    print("ERROR %s: %s" % (type(e).__name__, e))
    sys.exit(1)
print(json.dumps(v))
PY
    local $/;
    my $out = <$ph>;
    close $ph;
    return (undef, $out) if $? || !defined $out || $out =~ /^ERROR /;
    return (JSON::PP->new->decode($out), undef);
}

# The CSV the contract asks for, computed here independently of the C
# converter for the small documents the tests use.
sub expected_csv {
    my ($doc, $ndjson, $guard) = @_;
    $guard //= 1;
    my $js = JSON::PP->new->allow_nonref->canonical(0);
    my @rows;
    if ($ndjson) {
        @rows = map { decode_ordered($_) } grep { /\S/ } split /\r?\n/, $doc;
    } else {
        my $v = decode_ordered($doc);
        if (ref $v eq 'LIST') {
            @rows = @{ $v->[0] };
        } elsif (ref $v eq 'OBJ') {
            my ($first) = grep { ref $_->[1] eq 'LIST' } @{ $v->[0] };
            @rows = $first ? @{ $first->[1][0] } : ($v);
        } else {
            @rows = ($v);
        }
    }
    my (@cols, %seen, @out);
    for my $row (@rows) {
        my %cells;
        flatten($row, '', \%cells, \@cols, \%seen);
        push @out, \%cells;
    }
    my $csv = join(',', map { csv_cell($_, 0, $guard) } @cols) . "\r\n";
    for my $cells (@out) {
        $csv .= join(',', map {
            my $c = $cells->{$_};
            defined $c ? csv_cell($c->[0], $c->[1], $guard) : '';
        } @cols) . "\r\n";
    }
    return @cols ? $csv : '';
}

sub csv_cell {
    my ($v, $is_num, $guard) = @_;
    $v = "'$v" if $guard && !$is_num && $v =~ /^[=+\-\@\t\r]/;
    if ($v =~ /[",\r\n]/ || $v =~ /^ / || $v =~ / $/) {
        $v =~ s/"/""/g;
        $v = "\"$v\"";
    }
    return $v;
}

sub flatten {
    my ($v, $prefix, $cells, $cols, $seen) = @_;
    if (ref $v eq 'OBJ') {
        if (!@{ $v->[0] } && $prefix ne '') {
            add_cell($prefix, ['{}', 0], $cells, $cols, $seen);
            return;
        }
        for my $kv (@{ $v->[0] }) {
            my $k = $prefix eq '' ? $kv->[0] : "$prefix.$kv->[0]";
            flatten($kv->[1], $k, $cells, $cols, $seen);
        }
        return;
    }
    my $name = $prefix eq '' ? 'value' : $prefix;
    if (ref $v eq 'LIST') {
        add_cell($name, [$v->[1], 0], $cells, $cols, $seen);
    } elsif (ref $v eq 'SCALAR') {      # number, verbatim
        add_cell($name, [$$v, 1], $cells, $cols, $seen);
    } elsif (!defined $v) {
        add_cell($name, ['', 0], $cells, $cols, $seen);
    } else {
        add_cell($name, [$v, 0], $cells, $cols, $seen);
    }
}

sub add_cell {
    my ($name, $cell, $cells, $cols, $seen) = @_;
    push @$cols, $name unless $seen->{$name}++;
    $cells->{$name} = $cell;
}

# A tiny JSON reader that keeps key order and number text, which the
# CSV rules need and JSON::PP does not give.  Objects become
# bless([[k, v]...], 'OBJ'), arrays bless([[items], compact], 'LIST'),
# numbers \"text", true/false 'true'/'false', null undef.
sub decode_ordered {
    my ($text) = @_;
    my $pos = 0;
    my $v = parse_value(\$text, \$pos);
    return $v;
}

sub ws { my ($t, $p) = @_; $$p++ while $$p < length $$t && substr($$t, $$p, 1) =~ /\s/; }

sub parse_value {
    my ($t, $p) = @_;
    ws($t, $p);
    my $c = substr($$t, $$p, 1);
    if ($c eq '{') {
        $$p++;
        my @kv;
        ws($t, $p);
        if (substr($$t, $$p, 1) eq '}') { $$p++; return bless [\@kv], 'OBJ'; }
        while (1) {
            my $k = parse_value($t, $p);
            ws($t, $p); $$p++;    # :
            my $v = parse_value($t, $p);
            @kv = grep { $_->[0] ne $k } @kv;
            push @kv, [$k, $v];
            ws($t, $p);
            my $d = substr($$t, $$p++, 1);
            last if $d eq '}';
        }
        return bless [\@kv], 'OBJ';
    }
    if ($c eq '[') {
        my $start = $$p;
        $$p++;
        my @items;
        ws($t, $p);
        if (substr($$t, $$p, 1) eq ']') {
            $$p++;
            return bless [\@items, '[]'], 'LIST';
        }
        while (1) {
            push @items, parse_value($t, $p);
            ws($t, $p);
            my $d = substr($$t, $$p++, 1);
            last if $d eq ']';
        }
        my $raw = substr($$t, $start, $$p - $start);
        my $compact = compact($raw);
        return bless [\@items, $compact], 'LIST';
    }
    if ($c eq '"') {
        my $s = substr($$t, $$p);
        $s =~ /^("(?:[^"\\]|\\.)*")/s or die "bad string";
        $$p += length $1;
        return JSON::PP->new->allow_nonref->decode($1);
    }
    if (substr($$t, $$p) =~ /^(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/) {
        $$p += length $1;
        my $n = $1;
        return \$n;
    }
    for my $w (qw(true false null)) {
        if (substr($$t, $$p, length $w) eq $w) {
            $$p += length $w;
            return $w eq 'null' ? undef : $w;
        }
    }
    die "bad JSON at $$p";
}

# compact JSON text: whitespace outside strings removed
sub compact {
    my ($raw) = @_;
    my $out = '';
    while ($raw =~ /\G(?:("(?:[^"\\]|\\.)*")|(\s+)|([^"\s]+))/gs) {
        $out .= $1 if defined $1;
        $out .= $3 if defined $3;
    }
    return $out;
}

1;
