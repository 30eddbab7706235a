# export_parallel_deflate: off (the default), an export's writer deflates
# alone; on, a module built on libdeflate gives each big export two
# deflate threads besides the writer's.  Either way the archive holds
# the same entries, whole.  The worker's threads are counted from /proc
# while the export runs.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest qw(start_nginx stop_nginx http_req json_of make_run
                  wait_status check_zip zip_entries slurp);

sub run_id { sprintf '00000011-0000-4000-8000-%012x', $_[0] }

# about 6 MiB of JSON that deflates slowly at level 9: hex noise
srand(11);
my $report = '[' . join(',', map {
    my $s = join '', map { sprintf '%08x', int rand 2**32 } 1 .. 24;
    qq({"host": "esx-$_", "msg": "$s"})
} 1 .. 25000) . ']';

sub threads_of {
    my ($pid) = @_;
    opendir my $d, "/proc/$pid/task" or return 0;
    return scalar grep { /^\d+$/ } readdir $d;
}

sub workers_of {
    my ($master) = @_;
    return grep { (slurp("/proc/$_/stat") =~ /^\d+ \(.*\) \S (\d+)/)[0]
                  == $master } map { m{/proc/(\d+)$} ? $1 : () }
           glob('/proc/[0-9]*');
}

# the most threads the worker that builds the export had beyond its
# threads at rest, while the export of run N ran
sub export_with {
    my ($setting, $n) = @_;
    my $what = $setting || 'default';
    my $nginx = start_nginx(port => 2030, workers => 1,
                            http => "export_compression_level 9;\n"
                                    . ($setting ? "export_parallel_deflate"
                                                  . " $setting;\n" : ''));
    my ($worker) = workers_of(ExportTest::master_pid($nginx));
    my $run = run_id($n);
    make_run($nginx->{root}, $run, { 'noise.json' => $report });

    # the pool's threads start with the worker; the 32 of nginx's
    # "default" pool too
    my $rest = threads_of($worker);
    my $res = http_req('POST', "/v1/system/check-sets/$run/exports");
    is($res->{status}, 202, "$what: POST");

    my $most = 0;
    my $deadline = time + 60;
    while (time < $deadline) {
        my $t = threads_of($worker) - $rest;
        $most = $t if $t > $most;
        my $s = json_of(http_req('GET', "/v1/system/check-sets/$run/exports"));
        last if $s && $s->{status} =~ /^(COMPLETED|FAILED)$/;
        sleep 0.005;
    }

    my $t = wait_status($run, 60);
    is($t->{status}, 'COMPLETED', "$what: the export completes");
    my $zip = "$nginx->{root}/got-$n.zip";
    my $dl = http_req('GET', $t->{downloadUrl});
    is($dl->{status}, 200, "$what: the archive downloads");
    open my $fh, '>:raw', $zip or die $!;
    print $fh $dl->{content};
    close $fh;
    check_zip($zip, "$what: the archive");
    my $e = zip_entries($zip);
    my ($json) = grep { /noise\.json$/ } keys %$e;
    ok(defined $json && $e->{$json} eq $report,
       "$what: the report is in it unchanged");
    my ($csv) = grep { /noise\.csv$/ } keys %$e;
    ok(defined $csv && ($e->{$csv} =~ tr/\n//) == 25001,
       "$what: and its CSV, a header and 25,000 rows");

    my $log = slurp("$nginx->{root}/logs/error.log");
    my ($backend) = $log =~ /export module \S+ loaded \(deflate: (\w+)/;
    unlike($log, qr/\[(alert|crit|emerg)\]/, "$what: no alert");
    stop_nginx();

    return ($most, $backend // '');
}

my ($off, $backend) = export_with('', 1);
is($off, 1, "off by default: the writer's thread alone ($off more)");

my ($on) = export_with('on', 2);
if ($backend eq 'libdeflate') {
    is($on, 3, "on: the writer's and two deflate threads ($on more)");
} else {
    is($on, 1, "on, built on $backend: the writer's thread alone");
}

my ($off2) = export_with('off', 3);
is($off2, 1, "off: the writer's thread alone ($off2 more)");

done_testing();
