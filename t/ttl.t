# export_ttl: a finished task and its archive go away together when their
# time is over, whichever worker looks.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest;

my $run = '7a7a7a7a-1b1b-4c2c-8d3d-4e4e4e4e4e4e';
my $api = "/v1/system/check-sets/$run/exports";

my $n = start_nginx(port => 1989, api => 'export_ttl 2s;');
make_run($n->{root}, $run, { 'r.json' => '[{"a": 1}]' });

is(http_req('POST', $api)->{status}, 202, 'POST');
my $t = wait_status($run);
is($t->{status}, 'COMPLETED', 'completed');
my $zip = "$n->{root}/store/export-$run-$t->{id}.zip";
ok(-f $zip, 'the archive is in the store');
is(http_req('GET', $t->{downloadUrl})->{status}, 200, 'downloadable');

my $done = time;
sleep 2.5;

check_error(http_req('GET', $api), 404, 'EXPORT_TASK_NOT_FOUND',
            'GET after the TTL');
check_error(http_req('GET', "$api/data"), 404, 'EXPORT_TASK_NOT_FOUND',
            'exports/data after the TTL');
my %seen;
for (1 .. 20) {
    my $r = http_req('GET', $api);
    $seen{ $r->{headers}{'x-worker'} } = $r->{status};
}
is_deeply([sort values %seen], [404, 404], 'both workers: gone');

# the housekeeping timer (every 5 s) removes the file
my $gone = 0;
while (time - $done < 15) {
    if (!-e $zip) { $gone = 1; last }
    sleep 0.2;
}
ok($gone, 'the archive is removed with its task');

# a new export of the run works as on a fresh start
is(http_req('POST', $api)->{status}, 202, 'POST again after expiry');
is(wait_status($run)->{status}, 'COMPLETED', 'and it completes');

stop_nginx();
done_testing();
