# A forged Host header does not reach any URL of an answer.  The ArcGIS
# jobsUrl is built as docs/styles.md says, from what the operator
# controls ($scheme://$server_name:$server_port); every other URL of
# every style (result.URL, filePath, href, Location, download_url,
# downloadUrl) is relative.  Every request of the test sends the same
# forged Host, and every field that holds a URL is checked, as well as
# the whole text of every answer.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest;

my $port = 2013;
my $evil = 'evil.example:6666';

my $server = <<'CONF';
        server_name exports.example.com;

        location = /arcgis/admin/healthCheck/reports/export {
            export_api zone=exports style=arcgis;
            export_source @ROOT@/runs/$export_run_id;
            export_store @ROOT@/store;
            export_thread_pool exports;
            export_job_uri $scheme://$server_name:$server_port/arcgis/admin/jobs/$export_job_id;
            export_download_uri /exports/file;
        }
        location ~ ^/arcgis/admin/jobs/(?<job>[^/]+)$ {
            export_api zone=exports style=arcgis;
            export_task_id $job;
            export_download_uri /exports/file;
        }
        location = /services/rest/v1/export/job/status {
            export_api zone=exports style=uniware;
            export_download_uri /exports/file;
        }
        location ~ ^/api/v1/user_identities/[^/]+/exports/(?<e>[^/]+)/export_files$ {
            export_api zone=exports style=webadmit;
            export_run_id $e;
            export_source @ROOT@/runs/$export_run_id;
            export_store @ROOT@/store;
            export_thread_pool exports;
        }
        location ~ ^/api/v1/exports/(?<e>[^/]+)/export_files/(?<f>[^/]+)$ {
            export_api zone=exports style=webadmit;
            export_run_id $e;
            export_task_id $f;
            export_download_uri /exports/file;
        }
        location = /exports/file {
            export_download zone=exports;
        }
        location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports$ {
            export_api zone=exports;
            export_run_id $run_id;
            export_source @ROOT@/runs/$run_id;
            export_store @ROOT@/store;
            export_thread_pool exports;
        }
        location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports/file$ {
            export_download zone=exports;
            export_run_id $run_id;
        }
CONF

my $n = start_nginx(port => $port, server => $server,
                    http => "    export_link_secret \@ROOT\@/conf/key;\n",
                    files => { 'conf/key' => 'k' x 32 });
my $root = $n->{root};

my $report = '[{"host": "esx-1", "status": "PASSED"}]';
my $vm_run = '0b6a1b0c-1111-4222-8333-944445555666';
make_run($root, $_, { 'checks.json' => $report }) for ('r1', '86446', $vm_run);

my %answers;     # the last answer of each request line

# HTTP::Tiny will not send a Host of our choosing: a plain HTTP/1.0
# request with the forged Host, its answer as { status, headers, content }
sub req {
    my ($method, $path, $body, $type) = @_;
    $body //= '';
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 30)
        or return { status => 599, headers => {}, content => "$!" };
    print $s "$method $path HTTP/1.0\r\nHost: $evil\r\n",
             ($type ? "Content-Type: $type\r\n" : ''),
             "Content-Length: " . length($body) . "\r\n\r\n$body";
    local $/;
    my $raw = <$s> // '';
    close $s;
    my ($head, $content) = split /\r\n\r\n/, $raw, 2;
    my ($line, @h) = split /\r\n/, $head // '';
    my %h = map { my ($k, $v) = split /:\s*/, $_, 2; (lc $k => $v) } @h;
    my $res = { status => ($line // '') =~ m{^HTTP/1\.\d (\d+)} ? $1 : 599,
                headers => \%h, content => $content // '',
                url => "$method $path" };
    $answers{"$method $path"} = $res;
    return $res;
}

sub doc {
    my ($res, $what) = @_;
    my $v = eval { JSON::PP->new->decode($res->{content}) };
    ok(ref $v eq 'HASH', "$what: a JSON object") or diag $res->{content};
    return $v || {};
}

# a relative URL of this server, never the forged host
sub relative {
    my ($url, $what) = @_;
    like($url // '', qr{^/[^/]}, "$what is relative: " . ($url // 'undef'));
}

sub poll {
    my ($method, $path, $body, $type, $done) = @_;
    my $deadline = time + 30;
    my ($res, $d);
    while (time < $deadline) {
        $res = req($method, $path, $body, $type);
        $d = eval { JSON::PP->new->decode($res->{content}) };
        last if $d && $done->($d);
        sleep 0.1;
    }
    return ($res, $d);
}

# ArcGIS: jobsUrl from server_name and the port, whatever Host says
my $res = req('POST', '/arcgis/admin/healthCheck/reports/export',
              'runIds=r1&f=json', 'application/x-www-form-urlencoded');
is($res->{status}, 200, 'ArcGIS submit: 200');
my $sub = doc($res, 'ArcGIS submit');
like($sub->{jobid} // '', qr/^j[0-9a-f-]{36}$/, 'ArcGIS submit: jobid');
is($sub->{jobsUrl},
   "http://exports.example.com:$port/arcgis/admin/jobs/$sub->{jobid}",
   'ArcGIS submit: jobsUrl is built from server_name and server_port');

my ($jres, $job) = poll('GET', "/arcgis/admin/jobs/$sub->{jobid}?f=json",
                        undef, undef,
                        sub { ($_[0]{status} // '') eq 'COMPLETED' });
is($job->{status}, 'COMPLETED', 'ArcGIS job: COMPLETED');
relative($job->{result}{URL}, 'ArcGIS job: result.URL');
like($job->{result}{URL} // '', qr{^/exports/file\?},
     'ArcGIS job: result.URL is the download location');

# Uniware: filePath
my $task = substr($sub->{jobid}, 1);
my ($ures, $u) = poll('POST', '/services/rest/v1/export/job/status',
                      qq({"jobCode": "$task"}), 'application/json',
                      sub { ($_[0]{status} // '') eq 'SUCCESSFUL' });
is($u->{status}, 'SUCCESSFUL', 'Uniware: SUCCESSFUL');
relative($u->{filePath}, 'Uniware: filePath');

# WebAdMIT: Location, href, and the file's href and download_url
$res = req('POST', '/api/v1/user_identities/42/exports/86446/export_files');
is($res->{status}, 201, 'WebAdMIT start: 201');
my $w = doc($res, 'WebAdMIT start');
relative($res->{headers}{location}, 'WebAdMIT start: Location');
relative($w->{href}, 'WebAdMIT start: href');
my $file = $w->{export_files}[0] || {};
relative($file->{href}, 'WebAdMIT start: export_files[0].href');

my ($fres, $f) = poll('GET', $file->{href} // '/none', undef, undef,
                      sub { ($_[0]{export_files}{status} // '') eq 'available' });
is($f->{export_files}{status}, 'available', 'WebAdMIT file: available');
relative($f->{export_files}{href}, 'WebAdMIT file: href');
relative($f->{export_files}{download_url}, 'WebAdMIT file: download_url');

# VMware: Location and downloadUrl
$res = req('POST', "/v1/system/check-sets/$vm_run/exports");
is($res->{status}, 202, 'VMware POST: 202');
relative($res->{headers}{location}, 'VMware POST: Location');
my ($vres, $v) = poll('GET', "/v1/system/check-sets/$vm_run/exports?wait=5",
                      undef, undef,
                      sub { ($_[0]{status} // '') eq 'COMPLETED' });
is($v->{status}, 'COMPLETED', 'VMware: COMPLETED');
relative($v->{downloadUrl}, 'VMware: downloadUrl');

# and nowhere in any answer, headers included
for my $a (map { $answers{$_} } sort keys %answers) {
    my $text = $a->{content} . join("\n", map {
        my $v = $a->{headers}{$_}; "$_: " . (ref $v ? "@$v" : $v)
    } keys %{ $a->{headers} });
    unlike($text, qr/evil/i, "no forged host in the answer to $a->{url}");
}

stop_nginx();
done_testing();
