# The per-client quota with 2 workers: exact counts at the boundary,
# slots that come back, an honest Retry-After, keys that do not affect
# each other, and no excess under 50 concurrent clients.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use IO::Handle;
use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest;

my $n = start_nginx(port => 1991, main => '', http => <<'HTTP', server => <<'SERVER');
    export_quota_zone $http_x_client zone=per_client:1m;
    export_quota_zone $http_x_client zone=burst:1m;
    export_quota_zone $http_x_client zone=slow:1m;
HTTP
        location ~ ^/active/(?<run_id>[^/]+)/exports$ {
            export_api zone=exports;
            export_run_id $run_id;
            export_source @ROOT@/runs/$run_id;
            export_store @ROOT@/store;
            export_thread_pool exports;
            export_quota zone=per_client active=2;
        }
        location ~ ^/rate/(?<run_id>[^/]+)/exports$ {
            export_api zone=exports;
            export_run_id $run_id;
            export_source @ROOT@/runs/$run_id;
            export_store @ROOT@/store;
            export_thread_pool exports;
            export_quota zone=burst rate=2/s;
        }
        location ~ ^/minute/(?<run_id>[^/]+)/exports$ {
            export_api zone=exports;
            export_run_id $run_id;
            export_source @ROOT@/runs/$run_id;
            export_store @ROOT@/store;
            export_thread_pool exports;
            export_quota zone=slow rate=10r/m;
        }
SERVER

sub run_id { sprintf '%08x-0000-4000-8000-%012x', $_[0], $_[1] }

# slow runs stay unfinished while the tests look at the active slots
my $big = join '', map { qq({"i": $_, "pad": "@{[ 'p' x 200 ]}"}\n) } 1 .. 150000;
for my $i (1 .. 4) {
    make_run($n->{root}, run_id(1, $i), { 'big.ndjson' => $big });
}
for my $i (1 .. 240) {
    make_run($n->{root}, run_id(2, $i), { 'r.json' => '[{"a": 1}]' });
}

sub post {
    my ($prefix, $run, $client) = @_;
    return http_req('POST', "/$prefix/$run/exports",
                    { 'X-Client' => $client // 'alice' });
}

# --- active=2: 2 accepted, the third refused, across both workers

my %workers;
my @r = map { post('active', run_id(1, $_)) } 1 .. 3;
$workers{ $_->{headers}{'x-worker'} }++ for @r;
is($r[0]{status}, 202, 'first export accepted');
is($r[1]{status}, 202, 'second export accepted');
my $e = check_error($r[2], 429, 'EXPORT_QUOTA_EXCEEDED', 'third export');
is_deeply($e->{arguments}, ['per_client', 'active', '2'],
          'the arguments name the limit');
like($r[2]{headers}{'retry-after'}, qr/^[1-9]\d*$/, 'Retry-After in seconds');
is($r[0]{headers}{'ratelimit-policy'}, '"per_client-active";q=2',
   'RateLimit-Policy on 202');
is($r[1]{headers}{'ratelimit'}, '"per_client-active";r=0',
   'RateLimit on 202: no slot left');
is($r[2]{headers}{'ratelimit'}, '"per_client-active";r=0',
   'RateLimit on 429');

# many more tries, whichever worker takes them: still refused
my $refused = 0;
for (1 .. 10) {
    my $x = post('active', run_id(1, 3));
    $workers{ $x->{headers}{'x-worker'} }++;
    $refused++ if $x->{status} == 429;
}
is($refused, 10, 'refused through every worker');
is(scalar keys %workers, 2, 'both workers were asked');

# a re-POST of an unfinished export is not charged
is(post('active', run_id(1, 1))->{status}, 202,
   're-POST of an unfinished export is accepted');
is(post('active', run_id(1, 3))->{status}, 429, 'and charged nothing');

# another client has its own slots; no key, no limit
is(post('active', run_id(1, 3), 'bob')->{status}, 202,
   'another client is not affected');
is(http_req('DELETE', '/active/' . run_id(1, 3) . '/exports')->{status}, 204,
   'bob cancels');
is(post('active', run_id(1, 3), '')->{status}, 202,
   'an empty key is not limited');
is(http_req('DELETE', '/active/' . run_id(1, 3) . '/exports')->{status}, 204,
   'cancelled again');

# DELETE gives the slot back at once
is(http_req('DELETE', '/active/' . run_id(1, 2) . '/exports')->{status}, 204,
   'DELETE of a running export');
is(post('active', run_id(1, 3))->{status}, 202,
   'the slot came back after DELETE');
is(post('active', run_id(1, 4))->{status}, 429, 'and only that one');

# completion gives the slot back
my $t = wait_status_at('/active/' . run_id(1, 1), 120);
is($t->{status}, 'COMPLETED', 'an export completed');
is(post('active', run_id(1, 4))->{status}, 202,
   'the slot came back after completion');

# --- rate=2/s: 2 at once, then Retry-After, honoured, then accepted

my @rr = map { post('rate', run_id(2, $_), 'carol') } 1 .. 3;
is($rr[0]{status}, 202, 'rate: first accepted');
is($rr[1]{status}, 202, 'rate: second accepted');
$e = check_error($rr[2], 429, 'EXPORT_QUOTA_EXCEEDED', 'rate: third');
is_deeply($e->{arguments}, ['burst', 'rate', '2/s'], 'rate: arguments');
is($rr[0]{headers}{'ratelimit-policy'}, '"burst";q=2;w=1',
   'rate: RateLimit-Policy');
my $ra = $rr[2]{headers}{'retry-after'};
is($ra, 1, 'rate: Retry-After is the time to the next token');
sleep $ra;
is(post('rate', run_id(2, 4), 'carol')->{status}, 202,
   'rate: after Retry-After the export is accepted');
is(post('rate', run_id(2, 5), 'dave')->{status}, 202,
   'rate: another client has its own bucket');

# --- rate=10r/m (the limit_req spelling of 10/m): a wait that is long and exact

my @m = map { post('minute', run_id(2, 10 + $_), 'erin') } 1 .. 11;
is(scalar(grep { $_->{status} == 202 } @m), 10, 'minute: 10 accepted');
is($m[10]{status}, 429, 'minute: the 11th refused');
cmp_ok($m[10]{headers}{'retry-after'}, '>=', 5, 'minute: Retry-After >= 5');
cmp_ok($m[10]{headers}{'retry-after'}, '<=', 6, 'minute: Retry-After <= 6');
like($m[10]{headers}{'ratelimit'}, qr/^"slow";r=0;t=\d+$/,
     'minute: RateLimit says none left');

# --- 200 POSTs from 50 concurrent connections never pass the limit

pipe my $rd, my $wr or die $!;
my @kids;
for my $k (0 .. 49) {
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $rd;
        $wr->autoflush(1);
        for my $j (0 .. 3) {
            my $res = post('minute', run_id(2, 30 + $k * 4 + $j), 'frank');
            print $wr "$res->{status}\n";
        }
        close $wr;
        _exit(0);
    }
    push @kids, $pid;
}
close $wr;
my %count;
while (my $line = <$rd>) {
    chomp $line;
    $count{$line}++;
}
waitpid $_, 0 for @kids;
is($count{202}, 10, '50 concurrent clients: exactly 10 accepted');
is($count{429}, 190, '50 concurrent clients: 190 refused')
    or diag explain \%count;

unlike(slurp("$n->{root}/logs/error.log"), qr/\[(alert|crit|emerg)\]/,
       'no alert in error.log');

stop_nginx();
done_testing();


