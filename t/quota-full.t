# A full quota zone: its entries all in use, a new client is refused
# (full=closed) or let through unlimited (full=open); logged once; no
# crash.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use Test::More;

use ExportTest;

sub run_id { sprintf '%08x-0000-4000-8000-%012x', $_[0], $_[1] }

for my $mode (qw(closed open)) {
    # rate=1/h: an entry that took a token stays in use for an hour
    my $n = start_nginx(port => 1999, http => <<"HTTP", server => <<'SERVER');
    export_quota_zone \$http_x_client zone=tiny:32k full=$mode;
HTTP
        location ~ ^/t/(?<run_id>[^/]+)/exports$ {
            export_api zone=exports;
            export_run_id $run_id;
            export_source @ROOT@/runs/$run_id;
            export_store @ROOT@/store;
            export_thread_pool exports;
            export_quota zone=tiny rate=1/h;
        }
SERVER

    my (%count, $first_full);
    for my $i (1 .. 400) {
        make_run($n->{root}, run_id(7, $i), { 'r.json' => '[1]' });
        my $res = http_req('POST', '/t/' . run_id(7, $i) . '/exports',
                           { 'X-Client' => "client-$i" });
        $count{ $res->{status} }++;
        if ($res->{status} == 429 && !$first_full) {
            $first_full = json_of($res);
        }
    }

    my $log = slurp("$n->{root}/logs/error.log");
    my @lines = $log =~ /(quota zone "tiny" is full[^\n]*)/g;

    if ($mode eq 'closed') {
        ok($count{202} > 50 && $count{202} < 400,
           "closed: some clients accepted ($count{202}), then refused");
        is($count{429}, 400 - $count{202}, 'closed: the rest get 429');
        is_deeply($first_full->{arguments}, ['tiny', 'zone', 'full'],
                  'closed: the 429 says the zone is full');
        like($lines[0] // '', qr/new clients are refused/,
             'closed: the log says new clients are refused');

    } else {
        is($count{202}, 400, 'open: every client is accepted');
        like($lines[0] // '', qr/new clients are not limited/,
             'open: the log says new clients are not limited');
    }

    is(scalar @lines, 1, "$mode: logged once");
    unlike($log, qr/\[(alert|crit|emerg)\]|signal/, "$mode: no crash");

    stop_nginx();
}

done_testing();
