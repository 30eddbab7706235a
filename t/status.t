# export_status with 2 workers: JSON and Prometheus, counters shared by
# the workers, tasks by state, 429 totals, zone use.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest;

sub run_id { sprintf '%08x-0000-4000-8000-%012x', $_[0], $_[1] }
sub api { '/v1/system/check-sets/' . $_[0] . '/exports' }

my $n = start_nginx(port => 1997, zone => '1m max_running=1',
                    main => 'user nobody nogroup;', root_user => 0,
                    http => <<'HTTP', api => 'export_quota zone=q active=3;');
    export_quota_zone $http_x_client zone=q:1m;
    server {
        listen 127.0.0.1:1998;
        location = /status { export_status; }
        location = /nginx_status { stub_status; }
    }
HTTP

my $big = join '', map { qq({"i": $_, "pad": "@{[ 'p' x 200 ]}"}\n) } 1 .. 60000;

# two that complete, one that fails, one cancelled, one refused (429)
make_run($n->{root}, run_id(1, $_), { 'r.json' => '[{"a": 1}]' }) for 1 .. 2;
my $dir = make_run($n->{root}, run_id(1, 3), { 'secret.json' => '[1]' });
chmod 0000, "$dir/secret.json";

for my $i (1 .. 3) {
    http_req('POST', api(run_id(1, $i)), { 'X-Client' => 'a' });
    wait_status(run_id(1, $i));
}

make_run($n->{root}, run_id(1, $_), { 'big.ndjson' => $big }) for 4 .. 7;
my @st = map { json_of(http_req('POST', api(run_id(1, $_)),
                                { 'X-Client' => 'b' }))->{status} } 4 .. 6;
is($st[1], 'NOT_STARTED', 'a waiting export');
is(http_req('POST', api(run_id(1, 7)), { 'X-Client' => 'b' })->{status}, 429,
   'a refused export');
is(http_req('DELETE', api(run_id(1, 6)))->{status}, 204,
   'a cancelled export');

sub status {
    my ($fmt, $hdr) = @_;
    my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
    return $ua->get("http://127.0.0.1:1998/status$fmt",
                    { headers => $hdr || {} });
}

# the one version number, from the line in config
open my $cfg, '<', "$FindBin::Bin/../config" or die "config: $!";
my ($version) = map { /^EXPORT_VERSION=(\S+)$/ ? $1 : () } <$cfg>;
close $cfg;
like($version, qr/^\d+\.\d+\.\d+$/, 'config holds the version');

my $j = JSON::PP->new->decode(status('')->{content});
is($j->{version}, $version, 'the status gives the version');
my $z = $j->{zones}{exports};
ok($z, 'the zone is reported');
is($z->{created}, 6, 'created');
is($z->{completed}, 2, 'completed');
is($z->{failed}, 1, 'failed');
is($z->{cancelled}, 1, 'cancelled');
is($z->{rejected}{429}, 1, '429 total');
is($z->{rejected}{503}, 0, '503 total');
cmp_ok($z->{bytesWritten}, '>', 200, 'bytes written');
is($z->{tasks}{COMPLETED}, 2, 'tasks COMPLETED');
is($z->{tasks}{FAILED}, 1, 'tasks FAILED');
is($z->{tasks}{NOT_STARTED}, 1, 'tasks NOT_STARTED');
is($z->{tasks}{QUEUED} + $z->{tasks}{IN_PROGRESS}, 1, 'one task running');
is($z->{generationSeconds}{count}, 3, 'generation count');
is($z->{generationSeconds}{buckets}{'+Inf'}, 3, 'the +Inf bucket');
cmp_ok($z->{generationSeconds}{buckets}{'0.1'}, '<=', 3, 'buckets are cumulative');
is($z->{memory}{size}, 1048576, 'zone size');
cmp_ok($z->{memory}{free}, '<', 1048576, 'zone free bytes');
# client a has nothing under way: its idle entry gave way to b's
is($j->{quotaZones}{q}{entries}, 1, 'quota zone entries');

# the same figures from every worker
my %seen;
for (1 .. 30) {
    my $r = HTTP::Tiny->new(keep_alive => 0)
                      ->get('http://127.0.0.1:1998/status');
    my $d = JSON::PP->new->decode($r->{content});
    $seen{ $d->{zones}{exports}{created} . '/'
           . $d->{zones}{exports}{rejected}{429} } = 1;
}
is_deeply([keys %seen], ['6/1'], 'every worker gives the same counters');

# Prometheus text
# The running export may finish between two requests: the text is
# compared with JSON taken just before and just after it, once the two
# agree.
sub figures {
    my $z = JSON::PP->new->decode(status('')->{content})->{zones}{exports};
    return "$z->{tasks}{COMPLETED}/$z->{generationSeconds}{count}";
}

for my $ask (['?format=prometheus', {}], ['', { Accept => 'text/plain' }]) {
    my ($r, $before);
    for (1 .. 20) {
        $before = figures();
        $r = status(@$ask);
        last if figures() eq $before;
    }
    my ($done, $count) = split '/', $before;
    like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
         'Prometheus content type');
    my $t = $r->{content};
    my %m;
    for my $line (split /\n/, $t) {
        next if $line =~ /^# (HELP|TYPE) /;
        like($line, qr/^[a-z_]+\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\} [0-9.]+$/,
             "exposition line: $line") or last;
        $m{$1} = $2 if $line =~ /^(\S+) (\S+)$/;
    }
    is($m{'nginx_export_created_total{zone="exports"}'}, 6, 'created_total');
    is($m{'nginx_export_rejected_total{zone="exports",status="429"}'}, 1,
       'rejected_total 429');
    is($m{'nginx_export_tasks{zone="exports",state="COMPLETED"}'}, $done,
       'tasks by state');
    is($m{'nginx_export_generation_seconds_count{zone="exports"}'}, $count,
       'histogram count');
    is($m{'nginx_export_quota_entries{zone="q"}'}, 1, 'quota entries');
    is($m{qq(nginx_export_info{version="$version"})}, 1,
       'the version info metric');
    like($t, qr/^# TYPE nginx_export_generation_seconds histogram$/m,
         'the histogram is typed');
    like($t, qr/^# TYPE nginx_export_created_total counter$/m,
         'counters are typed');
}

is(HTTP::Tiny->new->post('http://127.0.0.1:1998/status')->{status}, 405,
   'POST on the status is 405');

stop_nginx();
done_testing();
