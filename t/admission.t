# Admission beyond one client, with 2 workers: a bound on exports running
# at once (the rest wait NOT_STARTED and any worker starts them), a full
# zone that evicts the oldest finished task or answers 503, and a full
# thread-pool queue that answers 503 and loses nothing.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest;

sub run_id { sprintf '%08x-0000-4000-8000-%012x', $_[0], $_[1] }

my $big = join '', map { qq({"i": $_, "pad": "@{[ 'p' x 200 ]}"}\n) } 1 .. 60000;

# --- export_zone ... max_running=1

# the status page counts the zone's tasks by state under the zone's
# lock: one atomic view, where GETs of each task one after another could
# see one export end and the next start between two of them
my $n = start_nginx(port => 1992, zone => '1m max_running=1',
                    server => ExportTest::default_locations(
                                  '@ROOT@', '', '@ROOT@/store')
                              . "location = /status { export_status; }\n");

for my $i (1 .. 4) {
    make_run($n->{root}, run_id(1, $i), { 'big.ndjson' => $big });
}

my @t = map { json_of(http_req('POST', "/v1/system/check-sets/"
                                       . run_id(1, $_) . '/exports')) } 1 .. 4;
like($t[0]{status}, qr/^(QUEUED|IN_PROGRESS)$/, 'the first export runs');
is($t[1]{status}, 'NOT_STARTED', 'the second waits NOT_STARTED');
is($t[2]{status}, 'NOT_STARTED', 'the third waits NOT_STARTED');
is($t[3]{status}, 'NOT_STARTED', 'the fourth waits NOT_STARTED');
check_task($t[1], run_id(1, 2), 'a waiting task');

# a waiting task can be deleted; it never runs
is(http_req('DELETE', '/v1/system/check-sets/' . run_id(1, 4) . '/exports')
       ->{status}, 204, 'DELETE of a NOT_STARTED export');

my $max_seen = 0;
my %done;
my $deadline = time + 120;
while (time < $deadline && keys %done < 3) {
    my $z = json_of(http_req('GET', '/status'))->{zones}{exports};
    my $running = $z->{tasks}{QUEUED} + $z->{tasks}{IN_PROGRESS};
    for my $i (1 .. 3) {
        my $s = json_of(http_req('GET', '/v1/system/check-sets/'
                                        . run_id(1, $i) . '/exports'));
        $done{$i} = $s->{status} if $s->{status} =~ /^(COMPLETED|FAILED)$/;
    }
    $max_seen = $running if $running > $max_seen;
    sleep 0.02;
}
is($max_seen, 1, 'never more than one export ran at once');
is_deeply(\%done, { 1 => 'COMPLETED', 2 => 'COMPLETED', 3 => 'COMPLETED' },
          'every waiting export was started and completed');
check_error(http_req('GET', '/v1/system/check-sets/' . run_id(1, 4)
                            . '/exports'),
            404, 'EXPORT_TASK_NOT_FOUND', 'the deleted waiting export');
ok(!glob("$n->{root}/store/export-" . run_id(1, 4) . '-*'),
   'the deleted waiting export left no file');

# --- a full zone: the oldest finished task makes room; unfinished never go

$n = start_nginx(port => 1992, zone => '32k max_running=1');

my $i = 0;
my ($first, $status);
while ($i < 200) {
    $i++;
    make_run($n->{root}, run_id(2, $i), { 'r.json' => '[{"a": 1}]' });
    my $res = http_req('POST', '/v1/system/check-sets/' . run_id(2, $i)
                               . '/exports');
    $status = $res->{status};
    last if $status != 202;
    my $t = wait_status(run_id(2, $i));
    $first //= $t;
    last if $i > 120;
}
is($status, 202, "finished tasks give way: $i exports in a 32k zone");

# the zone is the node's copy of the store: the task that made room is
# found again there, with its archive, until its export_ttl
my $old = "$n->{root}/store/export-" . run_id(2, 1) . "-$first->{id}.zip";
ok(-e $old, 'the archive of the task that made room stays in the store');
my $again = json_of(http_req('GET', '/v1/system/check-sets/' . run_id(2, 1)
                                    . '/exports'));
is($again->{id}, $first->{id}, 'the oldest finished task is found again');
is($again->{status}, 'COMPLETED', 'COMPLETED, as it was');
is(json_of(http_req('GET', '/v1/system/check-sets/' . run_id(2, $i)
                           . '/exports'))->{status}, 'COMPLETED',
   'the newest task is there');

# fill the zone with unfinished tasks: one slow export runs, the rest wait
make_run($n->{root}, run_id(3, 0), { 'big.ndjson' => $big x 4 });
http_req('POST', '/v1/system/check-sets/' . run_id(3, 0) . '/exports');
my ($res, $k);
for $k (1 .. 300) {
    make_run($n->{root}, run_id(3, $k), { 'r.json' => '[1]' });
    $res = http_req('POST', '/v1/system/check-sets/' . run_id(3, $k)
                            . '/exports');
    last if $res->{status} != 202;
}
my $e = check_error($res, 503, 'EXPORT_CAPACITY',
                    'a zone full of unfinished exports');
like($res->{headers}{'retry-after'}, qr/^[1-9]\d*$/, '503 has Retry-After');
like(slurp("$n->{root}/logs/error.log"),
     qr/\[error\].*EXPORT_CAPACITY: the export zone is full/,
     'the 503 is logged at error');

# --- a full thread-pool queue is a 503, and the task is not kept

# one worker: each worker has its own threads and queue
$n = start_nginx(port => 1992, zone => '1m', workers => 1,
                 main => 'thread_pool tiny threads=1 max_queue=1;',
                 server => <<'SERVER');
        location ~ ^/q/(?<run_id>[^/]+)/exports$ {
            export_api zone=exports;
            export_run_id $run_id;
            export_source @ROOT@/runs/$run_id;
            export_store @ROOT@/store;
            export_thread_pool tiny;
        }
SERVER

for my $j (1 .. 3) {
    make_run($n->{root}, run_id(4, $j), { 'big.ndjson' => $big x 2 });
}
my @q = map { http_req('POST', '/q/' . run_id(4, $_) . '/exports') } 1 .. 3;
is($q[0]{status}, 202, 'the first export runs in the one thread');
is($q[1]{status}, 202, 'the second waits in the queue of one');
check_error($q[2], 503, 'EXPORT_CAPACITY', 'a full thread-pool queue');
check_error(http_req('GET', '/q/' . run_id(4, 3) . '/exports'), 404,
            'EXPORT_TASK_NOT_FOUND', 'the refused export was not kept');
is(wait_status_at('/q/' . run_id(4, 2), 120)->{status}, 'COMPLETED',
   'the queued export completes');
is(http_req('POST', '/q/' . run_id(4, 3) . '/exports')->{status}, 202,
   'the refused export is accepted later');

unlike(slurp("$n->{root}/logs/error.log"), qr/\[(alert|crit|emerg)\]/,
       'no alert in error.log');

stop_nginx();
done_testing();


