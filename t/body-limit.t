# A request body over the limit of a style's location, sent with a
# Content-Length or chunked, gets the style's own 413 (ArcGIS, Uniware,
# WebAdMIT JSON), never nginx's HTML page: export_max_body_size, and a
# smaller client_max_body_size, are enforced by the module while it
# reads the body.  Bodies up to the limit, chunked ones included, are
# read whole.

use FindBin;
use lib "$FindBin::Bin/helpers";

use Test::Nginx::Socket 'no_plan';
use ExportBlocks;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# a raw HTTP/1.1 request with the body in chunks of $size bytes
sub chunked {
    my ($uri, $type, $body, $size) = @_;
    my $req = "POST $uri HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\nContent-Type: $type\r\n"
              . "Transfer-Encoding: chunked\r\n\r\n";
    for (my $i = 0; $i < length $body; $i += $size) {
        my $c = substr($body, $i, $size);
        $req .= sprintf("%x\r\n%s\r\n", length $c, $c);
    }
    return $req . "0\r\n\r\n";
}

# field by field, for the nested objects of the error bodies
sub arcgis_413 {
    my ($e) = @_;
    return ref $e eq 'HASH' && $e->{code} == 413
           && $e->{message} =~ /too large/ && ref $e->{details} eq 'ARRAY'
           && @{ $e->{details} } == 0;
}

sub uniware_413 {
    my ($errs) = @_;
    return ref $errs eq 'ARRAY' && @$errs == 1 && $errs->[0]{code} == 40001
           && $errs->[0]{description} =~ /too large/;
}

our $ARCGIS = { error => \&arcgis_413 };
our $UNIWARE = {
    successful => sub { defined $_[0] && !$_[0] },
    message => qr/too large/,
    errors => \&uniware_413,
    status => undef,
    filePath => undef,
};
our $WEBADMIT = { message => 'Payload Too Large' };

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('main_config', "thread_pool exports threads=1;\n");

    $block->set_value('http_config', <<'HTTP') unless $block->http_config;
export_zone exports:1m;
HTTP

    $block->set_value('config', <<'CONF') unless $block->config;
export_max_body_size 1k;
location = /arcgis/admin/healthCheck/reports/export {
    export_api zone=exports style=arcgis;
    export_source $TEST_NGINX_HTML_DIR/runs/$export_run_id;
    export_store $TEST_NGINX_HTML_DIR/store;
    export_thread_pool exports;
    export_job_uri http://exports.example.com/arcgis/admin/jobs/$export_job_id;
}
location = /services/rest/v1/export/job/status {
    export_api zone=exports style=uniware;
}
location ~ ^/api/v1/user_identities/[^/]+/exports/(?<e>[^/]+)/export_files$ {
    export_api zone=exports style=webadmit;
    export_run_id $e;
    export_source $TEST_NGINX_HTML_DIR/runs/$export_run_id;
    export_store $TEST_NGINX_HTML_DIR/store;
    export_thread_pool exports;
}
CONF

    $block->set_value('user_files', <<'FILES') unless $block->user_files;
>>> store/.keep
>>> runs/r1/checks.json
[{"host": "esx-1", "status": "PASSED"}]
>>> runs/86446/checks.json
[{"host": "esx-1", "status": "PASSED"}]
FILES

    $block->set_value('no_error_log', "[alert]\n[crit]\n")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: ArcGIS, Content-Length over the limit: 413 in ArcGIS's shape
--- request eval
"POST /arcgis/admin/healthCheck/reports/export?f=json\n"
. "f=json&runIds=r1&token=" . ("a" x 2000)
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 413
--- response_headers_like
Content-Type: ^application/json
--- json eval
$::ARCGIS
--- error_log
request body larger than 1024 bytes refused (export_max_body_size)



=== TEST 2: ArcGIS, chunked over the limit: 413 in ArcGIS's shape
--- raw_request eval
::chunked("/arcgis/admin/healthCheck/reports/export?f=json",
          "application/x-www-form-urlencoded",
          "f=json&runIds=r1&token=" . ("a" x 4000), 300)
--- error_code: 413
--- response_headers_like
Content-Type: ^application/json
--- json eval
$::ARCGIS



=== TEST 3: ArcGIS, chunked within the limit: read whole, the job submitted
--- raw_request eval
::chunked("/arcgis/admin/healthCheck/reports/export",
          "application/x-www-form-urlencoded",
          "token=" . ("b" x 900) . "&f=json&runIds=r1", 7)
--- error_code: 200
--- json eval
{
    jobsUrl => qr{^http://exports\.example\.com/arcgis/admin/jobs/j[0-9a-f-]{36}$},
    jobid => qr/^j[0-9a-f-]{36}$/,
    status => 'SUBMITTED',
}



=== TEST 4: Uniware, Content-Length over the limit: 413, successful false
--- request eval
"POST /services/rest/v1/export/job/status\n"
. '{"jobCode": "' . ("c" x 2000) . '"}'
--- more_headers
Content-Type: application/json
--- error_code: 413
--- json eval
$::UNIWARE



=== TEST 5: Uniware, chunked over the limit by one byte: 413
--- raw_request eval
my $pad = 1025 - length('{"jobCode": "x"}');
::chunked("/services/rest/v1/export/job/status", "application/json",
          '{"jobCode": "x"' . (" " x $pad) . '}', 100)
--- error_code: 413
--- json eval
$::UNIWARE



=== TEST 6: Uniware, chunked body exactly at the limit: read whole and parsed
--- raw_request eval
my $pad = 1024 - length('{"jobCode": "j00000000-0000-4000-8000-000000000000"}');
::chunked("/services/rest/v1/export/job/status", "application/json",
          '{"jobCode": "j00000000-0000-4000-8000-000000000000"' . (" " x $pad) . '}', 100)
--- error_code: 404
--- json eval
{
    successful => sub { defined $_[0] && !$_[0] },
    errors => sub { $_[0][0]{code} == 40401 && $_[0][0]{fieldName} eq 'jobCode' },
}



=== TEST 7: WebAdMIT, Content-Length over the limit: 413 {"message": ...}
--- request eval
"POST /api/v1/user_identities/42/exports/86446/export_files\n" . ("d" x 2000)
--- error_code: 413
--- json eval
$::WEBADMIT



=== TEST 8: WebAdMIT, chunked over the limit: 413 {"message": ...}
--- raw_request eval
::chunked("/api/v1/user_identities/42/exports/86446/export_files",
          "application/json", "{" . ("e" x 3000) . "}", 1000)
--- error_code: 413
--- json eval
$::WEBADMIT



=== TEST 9: WebAdMIT, a small chunked body is read and ignored: 201
--- raw_request eval
::chunked("/api/v1/user_identities/42/exports/86446/export_files",
          "application/json", '{"any": "thing"}', 5)
--- error_code: 201
--- json eval
{
    href => '/api/v1/user_identities/42/exports/86446/export_files',
    export_files => sub { ref $_[0] eq 'ARRAY' && $_[0][0]{export_id} == 86446 },
}



=== TEST 10: a GET with a body over the limit is refused before the method
--- request eval
"GET /services/rest/v1/export/job/status\n" . ("f" x 2000)
--- error_code: 413
--- json eval
$::UNIWARE



=== TEST 11: a smaller client_max_body_size is the limit, and still in style
--- config
location = /services/rest/v1/export/job/status {
    client_max_body_size 100;
    export_api zone=exports style=uniware;
}
--- request eval
"POST /services/rest/v1/export/job/status\n" . '{"jobCode": "' . ("g" x 200) . '"}'
--- error_code: 413
--- json eval
$::UNIWARE
--- error_log
request body larger than 100 bytes refused (export_max_body_size)



=== TEST 12: the default limit, 64k: a body past client_max_body_size gets the style's 413
--- config
location = /services/rest/v1/export/job/status {
    client_max_body_size 1m;
    export_api zone=exports style=uniware;
}
--- request eval
"POST /services/rest/v1/export/job/status\n" . '{"jobCode": "' . ("h" x (2 * 1024 * 1024)) . '"}'
--- error_code: 413
--- json eval
$::UNIWARE
--- error_log
request body larger than 65536 bytes refused (export_max_body_size)



=== TEST 13: the default limit: a chunked body of 64k + 1 bytes gets 413
--- config
location = /services/rest/v1/export/job/status {
    export_api zone=exports style=uniware;
}
--- raw_request eval
::chunked("/services/rest/v1/export/job/status", "application/json",
          '{"jobCode": "x"' . (" " x (65537 - 16)) . '}', 8192)
--- error_code: 413
--- json eval
$::UNIWARE



=== TEST 14: export_max_body_size 0 is refused at start
--- config
export_max_body_size 0;
--- must_die
--- error_log
"export_max_body_size" must be more than 0



=== TEST 15: the method is checked once the body is read: a chunked GET on the submit location gets 405
--- raw_request eval
my $r = ::chunked("/arcgis/admin/healthCheck/reports/export?f=json",
                  "application/x-www-form-urlencoded", "runIds=r1", 4);
$r =~ s/^POST/GET/;
$r
--- error_code: 405
--- response_headers
Allow: POST
--- json eval
{ error => sub { $_[0]{code} == 405 } }
