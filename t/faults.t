# Faults with 2 workers: a worker killed during generation, again and
# again; a full disk; an unreadable report; a store that becomes
# unwritable; a run directory removed while it is exported.  Each task
# ends truthfully, nothing half-written stays, and nginx keeps answering.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use File::Path qw(make_path remove_tree);
use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest;

sub run_id { sprintf '%08x-0000-4000-8000-%012x', $_[0], $_[1] }

my $row = sub { qq({"i": $_[0], "host": {"name": "esx-$_[0]"}, "pad": "@{[ 'p' x 200 ]}"}\n) };
my $big = join '', map { $row->($_) } 1 .. 100000;

# the pid of the worker running the task's latest attempt, from error.log
sub attempt_pid {
    my ($n, $id, $attempt) = @_;
    for (1 .. 200) {
        my $log = slurp("$n->{root}/logs/error.log");
        return $1 if $log =~ /(\d+)#\d+: export: task \Q$id\E of run \S+: attempt $attempt started/;
        sleep 0.05;
    }
    return;
}

# --- SIGKILL of the worker generating: another attempt completes it

my $n = start_nginx(port => 1993);
my $run = run_id(1, 1);
make_run($n->{root}, $run, { 'a.ndjson' => $big, 'b.json' => '[{"x": 1}]' });

my $t = json_of(http_req('POST', "/v1/system/check-sets/$run/exports"));
my $id = $t->{id};
my $pid = attempt_pid($n, $id, 1);
ok($pid, "attempt 1 runs in worker $pid");
ok(kill('KILL', $pid), 'SIGKILL the worker during generation');

$t = wait_status($run, 120);
is($t->{status}, 'COMPLETED', 'another attempt completed the export');
is($t->{id}, $id, 'the same task');
like(slurp("$n->{root}/logs/error.log"),
     qr/export: task \Q$id\E of run \Q$run\E: worker $pid died during attempt 1 of 3; it starts again/,
     'the restart is logged with the dead worker');

my $res = http_req('GET', $t->{downloadUrl});
is($res->{status}, 200, 'the archive downloads');
my $zip = "$n->{root}/dl.zip";
spew($zip, $res->{content});
check_zip($zip, 'the archive after a kill');
my $e = zip_entries($zip);
ok($e->{'a.ndjson'} eq $big, 'the report is whole in the archive');
is(scalar(() = $e->{'a.csv'} =~ /\r\n/g), 100001, 'the CSV has every row');
is_deeply([grep { /\.tmp$/ } glob("$n->{root}/store/.export-*")], [],
          'no temporary file is left');

# --- killed on every attempt: FAILED, with an error that says why

$run = run_id(1, 2);
make_run($n->{root}, $run, { 'a.ndjson' => $big });
$t = json_of(http_req('POST', "/v1/system/check-sets/$run/exports"));
$id = $t->{id};
for my $attempt (1 .. 3) {
    my $p = attempt_pid($n, $id, $attempt);
    ok($p, "attempt $attempt started") or last;
    kill 'KILL', $p;
}
$t = wait_status($run, 60);
check_task($t, $run, 'task killed 3 times');
is($t->{status}, 'FAILED', 'FAILED after 3 attempts');
like($t->{error}{message}, qr/worker generating the export died/,
     'the error says why');
like(slurp("$n->{root}/logs/error.log"),
     qr/export: task \Q$id\E .* failed: worker \d+ died during attempt 3 of 3 \(referenceToken: \Q$t->{error}{referenceToken}\E\)/,
     'error.log has the cause and the referenceToken');
ok(!glob("$n->{root}/store/export-$run-*.zip"), 'no archive was left');
is(http_req('GET', '/v1/system/check-sets/' . run_id(9, 9) . '/exports')
       ->{status}, 404, 'nginx keeps answering');

# --- an unreadable report (workers run as nobody for this one)

stop_nginx();
$n = start_nginx(port => 1993, main => 'user nobody nogroup;', root_user => 0);
chmod 0777, "$n->{root}/store";
$run = run_id(2, 1);
my $dir = make_run($n->{root}, $run, { 'ok.json' => '[1]', 'secret.json' => '[2]' });
chmod 0000, "$dir/secret.json";
http_req('POST', "/v1/system/check-sets/$run/exports");
$t = wait_status($run);
is($t->{status}, 'FAILED', 'an unreadable report fails the export');
like($t->{error}{message}, qr/cannot open report "secret\.json": Permission denied/,
     'the error names the report and the reason');
ok(!glob("$n->{root}/store/*$run*.zip") && !glob("$n->{root}/store/.export-*"),
   'nothing half-written remains');

# --- the store becomes unwritable at run time: the run cannot be
# claimed, so the POST is refused at once, 503 with Retry-After

chmod 0555, "$n->{root}/store";
$run = run_id(2, 2);
make_run($n->{root}, $run, { 'ok.json' => '[1]' });
$res = http_req('POST', "/v1/system/check-sets/$run/exports");
my $err = check_error($res, 503, 'EXPORT_STORE_UNAVAILABLE',
                      'an unwritable store');
is($err->{message}, 'the export store cannot be written', 'the error says so');
like($res->{headers}{'retry-after'}, qr/^[1-9]\d*$/, 'with Retry-After');
like(slurp("$n->{root}/logs/error.log"),
     qr/\[error\].*run \Q$run\E: the export store "\Q$n->{root}\E\/store" cannot be written \(13: Permission denied\)/,
     'error.log names the store and the reason');
check_error(http_req('GET', "/v1/system/check-sets/$run/exports"), 404,
            'EXPORT_TASK_NOT_FOUND', 'no task was kept');
chmod 0777, "$n->{root}/store";
is(http_req('POST', "/v1/system/check-sets/$run/exports")->{status}, 202,
   'once writable, the export is accepted');
is(wait_status($run)->{status}, 'COMPLETED', 'and completes');

# --- the run directory removed during generation

$run = run_id(2, 3);
my $part = join '', map { $row->($_) } 1 .. 30000;
$dir = make_run($n->{root}, $run, { map { ("r$_.ndjson" => $part) } 1 .. 8 });
chmod 0755, $dir;
chmod 0644, glob("$dir/*");
http_req('POST', "/v1/system/check-sets/$run/exports");
for (1 .. 400) {
    last if json_of(http_req('GET', "/v1/system/check-sets/$run/exports"))
                ->{status} eq 'IN_PROGRESS';
    sleep 0.005;
}
remove_tree($dir);
$t = wait_status($run, 60);
is($t->{status}, 'FAILED', 'a run removed during generation fails')
    or diag explain $t;
like($t->{error}{message}, qr/cannot open|reading report/,
     'the error says what could not be read');
ok(!glob("$n->{root}/store/*$run*.zip") && !glob("$n->{root}/store/.export-*"),
   'nothing half-written remains');

# --- a full disk: a 1 MiB tmpfs as the store

stop_nginx();
my $mnt = "$FindBin::Bin/servroot_flow_1993_tmpfs";
make_path($mnt);
SKIP: {
    system("mount -t tmpfs -o size=1m tmpfs $mnt 2>/dev/null") == 0
        or skip 'cannot mount a tmpfs here', 5;

    $n = start_nginx(port => 1993, store => $mnt);
    $run = run_id(3, 1);
    # $big deflates to about 1 MiB (libdeflate: 0.97 MiB, zlib 1.1 MiB):
    # two of it are over the tmpfs whatever the deflate library
    make_run($n->{root}, $run, { 'a.ndjson' => $big, 'b.ndjson' => $big });
    http_req('POST', "/v1/system/check-sets/$run/exports");
    $t = wait_status($run, 60);
    is($t->{status}, 'FAILED', 'a full disk fails the export');
    like($t->{error}{message}, qr/No space left on device/,
         'the error says the disk is full');
    # the run's claim and metadata say how it ended; nothing else stays
    my @left = grep { !/\.(json|claim|task)$/ } glob("$mnt/* $mnt/.export-*");
    is_deeply(\@left, [], 'nothing half-written remains on the full disk');
    $run = run_id(3, 2);
    make_run($n->{root}, $run, { 'small.json' => '[{"a": 1}]' });
    http_req('POST', "/v1/system/check-sets/$run/exports");
    is(wait_status($run)->{status}, 'COMPLETED',
       'a small export still fits afterwards');
    unlike(slurp("$n->{root}/logs/error.log"), qr/\[(alert|emerg)\]/,
           'no alert in error.log');
    stop_nginx();
    system("umount $mnt");
}

done_testing();


sub spew {
    open my $fh, '>:raw', $_[0] or die $!;
    print $fh $_[1];
    close $fh;
}
