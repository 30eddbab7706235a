# Reload and restart: a reload keeps every task and lets a running export
# finish; a reload that resizes the zone is refused; a restart finds the
# finished exports again from the store, starts again the exports that
# the stop interrupted (their claims are this node's) and removes
# half-written files.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest;

sub run_id { sprintf '%08x-0000-4000-8000-%012x', $_[0], $_[1] }
sub api { '/v1/system/check-sets/' . $_[0] . '/exports' }

my $big = join '', map { qq({"i": $_, "host": {"name": "esx-$_"}, "pad": "@{[ 'p' x 200 ]}"}\n) } 1 .. 120000;

my %o = (port => 1994, zone => '2m',
         http => "    export_quota_zone \$remote_addr zone=q:1m;\n",
         api => 'export_quota zone=q active=10;');
my $n = start_nginx(%o);
my $root = $n->{root};

my ($a, $b, $c, $d) = map { run_id(5, $_) } 1 .. 4;
make_run($root, $a, { 'a.json' => '[{"k": "v", "n": 1.50}]' });
make_run($root, $b, { 'ok.json' => '[1]', 'bad.json' => '{"x": [1,' });
make_run($root, $c, { 'big.ndjson' => $big });
make_run($root, $d, { 'big.ndjson' => $big });

http_req('POST', api($a));
http_req('POST', api($b));
my $ta = wait_status($a);
my $tb = wait_status($b);
is($ta->{status}, 'COMPLETED', 'A completed');
is($tb->{status}, 'COMPLETED', 'B completed with a warning');
my $zip_a = http_req('GET', $ta->{downloadUrl})->{content};

# --- reload while D is generated: it finishes and is recorded

my $td = json_of(http_req('POST', api($d)));
for (1 .. 400) {
    last if json_of(http_req('GET', api($d)))->{status} eq 'IN_PROGRESS';
    sleep 0.005;
}
is(json_of(http_req('GET', api($d)))->{status}, 'IN_PROGRESS',
   'D is being generated');

# nginx -t beside the live server leaves its files alone
my $tmp_d = "$root/store/.export-$td->{id}.1.tmp";
# the job writes its IN_PROGRESS record (an fsync) and lists the run
# before it creates the archive: look for a moment
for (1 .. 200) {
    last if -e $tmp_d;
    sleep 0.01;
}
ok(-e $tmp_d, 'D is written to its temporary file');
my $bin = $ENV{TEST_NGINX_BINARY} || "/usr/sbin/nginx";
my $out = `$bin -t -p $root/ -c conf/nginx.conf 2>&1`;
like($out, qr/test is successful/, 'nginx -t while D is generated');
ok(-e $tmp_d || json_of(http_req('GET', api($d)))->{status} eq 'COMPLETED',
   'nginx -t did not remove the file being written');

my $master = ExportTest::master_pid($n);
kill 'HUP', $master;
sleep 0.5;

my $t = wait_status($d, 120);
is($t->{status}, 'COMPLETED', 'an export running during a reload finishes');
is($t->{id}, $td->{id}, 'and it is the same task');
is(json_of(http_req('GET', api($a)))->{id}, $ta->{id},
   'the reload kept the other tasks');
is(http_req('GET', $t->{downloadUrl})->{status}, 200,
   'the new workers serve its archive');

# --- a reload that changes the zone size is refused; the old one stays

{
    my $conf = slurp("$root/conf/nginx.conf");
    (my $bigger = $conf) =~ s/export_zone exports:2m/export_zone exports:4m/;
    (my $qbigger = $conf) =~ s/zone=q:1m/zone=q:2m/;
    spew("$root/conf/nginx.conf", $qbigger);
    kill 'HUP', $master;
    sleep 1;
    like(slurp("$root/logs/error.log"),
         qr/\[emerg\].*quota zone "q" cannot change its size on reload/,
         'a reload that resizes a quota zone fails clearly');
    spew("$root/conf/nginx.conf", $bigger);
    kill 'HUP', $master;
    sleep 1;
    like(slurp("$root/logs/error.log"),
         qr/\[emerg\].*export zone "exports" cannot change its size on reload/,
         'a reload that resizes the zone fails clearly');
    is(json_of(http_req('GET', api($a)))->{status}, 'COMPLETED',
       'the old zone and its tasks are still served');
    spew("$root/conf/nginx.conf", $conf);
}

# --- a hard stop in the middle of C, with leftovers in the store

my $tc = json_of(http_req('POST', api($c)));
for (1 .. 400) {
    last if json_of(http_req('GET', api($c)))->{status} eq 'IN_PROGRESS';
    sleep 0.005;
}
for (1 .. 200) {
    last if -e "$root/store/.export-$tc->{id}.1.tmp";
    sleep 0.01;
}
ok(-e "$root/store/.export-$tc->{id}.1.tmp",
   'C has a half-written archive');

my @pids = ($master, map { /^\s*(\d+)/ ? $1 : () }
                     `ps -o pid= --ppid $master`);
kill 'KILL', @pids;
for (1 .. 100) {
    last unless grep { kill 0, $_ } @pids;
    sleep 0.05;
}
ok(!(grep { kill 0, $_ } @pids), 'nginx is gone (SIGKILL)');
$ExportTest::current = undef;

spew("$root/store/.export-00000000-dead-4000-8000-000000000000.tmp", 'x');
my $orphan = "$root/store/export-$a-11111111-1111-4111-8111-111111111111.zip";
spew($orphan, 'PK');

# --- start again, in a later second than every export began

select(undef, undef, undef, 1.1);
$n = start_nginx(%o, keep => 1);

$t = json_of(http_req('GET', api($a)));
check_task($t, $a, 'A after the restart');
is($t->{status}, 'COMPLETED', 'A is COMPLETED after the restart');
is($t->{id}, $ta->{id}, 'with its task id');
is($t->{size}, $ta->{size}, 'and its size');
is($t->{startTimestamp}, $ta->{startTimestamp}, 'and its startTimestamp');
is($t->{endTimestamp}, $ta->{endTimestamp}, 'and its endTimestamp');
my $res = http_req('GET', $t->{downloadUrl});
is($res->{status}, 200, 'A downloads after the restart');
ok($res->{content} eq $zip_a, 'the same archive');
spew("$root/a.zip", $res->{content});
check_zip("$root/a.zip", 'A after the restart');

$t = json_of(http_req('GET', api($b)));
is($t->{status}, 'COMPLETED', 'B is COMPLETED after the restart');
is_deeply([map { $_->{report} } @{ $t->{warnings} }], ['bad.json'],
          'B keeps its warning');
is($t->{warnings}[0]{offset}, $tb->{warnings}[0]{offset},
   'with its offset');

$t = json_of(http_req('GET', api($c)));
check_task($t, $c, 'C after the restart');
is($t->{id}, $tc->{id}, 'C, unfinished at the stop, is the same task');
like($t->{status}, qr/^(NOT_STARTED|QUEUED|IN_PROGRESS|COMPLETED)$/,
     'and is started again, not FAILED');
like(slurp("$root/logs/error.log"),
     qr/run \Q$c\E: the export that the stop interrupted after attempt 1 is started again/,
     'the log says so');
$t = wait_status($c, 120);
is($t->{status}, 'COMPLETED', 'C completes after the restart');
is($t->{id}, $tc->{id}, 'as the same task');
is($t->{startTimestamp}, $tc->{startTimestamp}, 'with its startTimestamp');
like(slurp("$root/logs/error.log"),
     qr/task \Q$tc->{id}\E of run \Q$c\E: attempt 2 started/,
     'its second attempt');

is_deeply([glob("$root/store/.export-*")], [],
          'half-written files are removed at start');
ok(!-e $orphan, 'an archive without metadata is removed');
like(slurp("$root/logs/error.log"),
     qr/store "\Q$root\E\/store": \d+ exports found again, \d+ leftover files removed/,
     'the start reports what it found');

# C can be exported again
my $again = json_of(http_req('POST', api($c)));
isnt($again->{id}, $tc->{id}, 'a new export of C replaces it');
is(wait_status($c, 120)->{status}, 'COMPLETED', 'and completes');

# --- nginx -s stop in the middle of an export: the build stops at its
# next check point, so the stop takes well under a second and no worker
# is killed; the start finishes the export

$n = start_nginx(%o, keep => 1, api => $o{api} . ' export_compression_level 9;');
my $e = run_id(5, 5);
srand(5);
make_run($root, $e, { 'noise.ndjson' => join '', map {
    my $s = join '', map { sprintf '%08x', int rand 2**32 } 1 .. 24;
    qq({"i": $_, "msg": "$s"}\n)
} 1 .. 150000 });
my $te = json_of(http_req('POST', api($e)));
for (1 .. 400) {
    $t = json_of(http_req('GET', api($e)));
    last if $t->{status} eq 'IN_PROGRESS' && $t->{progress} > 0;
    sleep 0.01;
}
is($t->{status}, 'IN_PROGRESS', 'E is being generated');
$master = ExportTest::master_pid($n);

# SIGTERM is what "nginx -s stop" sends; timed from the signal, not from
# the start of a signal process that reads the configuration first
my $t0 = time;
kill 'TERM', $master;
while (alive($master)) {
    last if time - $t0 > 10;
    sleep 0.01;
}
my $took = time - $t0;
ok(!alive($master), 'a fast stop (SIGTERM) ends nginx');
cmp_ok($took, '<', 1, sprintf('within a second (%.3f s)', $took));
$ExportTest::current = undef;
my $log = slurp("$root/logs/error.log");
unlike($log, qr/exited on signal 9/, 'no worker had to be killed');
like($log, qr/task \Q$te->{id}\E of run \Q$e\E: nginx is stopping; attempt 1 stops/,
     'the build stopped at its check point');

$n = start_nginx(%o, keep => 1);
$t = wait_status($e, 180);
is($t->{status}, 'COMPLETED', 'E is finished after the start');
is($t->{id}, $te->{id}, 'as the same task');

# --- an export whose time ends while nginx is stopped is gone after the
# start, claim and all: it is not built again

stop_nginx();
$n = start_nginx(%o, keep => 1, api => $o{api} . ' export_ttl 2s;');
my $f = run_id(5, 6);
make_run($root, $f, { 'a.json' => '[{"k": 1}]' });
http_req('POST', api($f));
is(wait_status($f)->{status}, 'COMPLETED', 'F completes, with a TTL of 2 s');
ok(-e "$root/store/export-$f.claim", 'F has its claim');
stop_nginx();
sleep 2.5;
$n = start_nginx(%o, keep => 1, api => $o{api} . ' export_ttl 2s;');
is(http_req('GET', api($f))->{status}, 404, 'F is gone after the start');
is_deeply([glob("$root/store/*$f*")], [],
          'and none of its files is left, its claim neither');
sleep 1;
is(http_req('GET', api($f))->{status}, 404, 'and it is not built again');

stop_nginx();
done_testing();


# a process that has exited is gone, even while it waits to be reaped
# (the master is a daemon: whoever reaps it may take its time)
sub alive {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$fh>;
    return $stat !~ /^\d+ \(.*\) Z/;
}

sub spew {
    open my $fh, '>:raw', $_[0] or die "$_[0]: $!";
    print $fh $_[1];
    close $fh;
}
