# Every row of the API table of the contract: methods, status codes,
# headers, ExportTaskRest and Error bodies field by field.

use FindBin;
use lib "$FindBin::Bin/helpers";

use Test::Nginx::Socket 'no_plan';
use ExportBlocks;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $UUID = $ExportBlocks::UUID;
our $TIME = $ExportBlocks::TIME;

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('main_config', <<'MAIN') unless $block->main_config;
thread_pool exports threads=2;
MAIN

    $block->set_value('http_config', <<'HTTP') unless $block->http_config;
export_zone exports:1m;
HTTP

    $block->set_value('config', <<'CONF') unless $block->config;
location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports$ {
    export_api zone=exports;
    export_run_id $run_id;
    export_source $TEST_NGINX_HTML_DIR/runs/$run_id;
    export_store $TEST_NGINX_HTML_DIR/store;
    export_thread_pool exports;
    add_header X-Task $export_task_id always;
    add_header X-State $export_status always;
    add_header X-Ref $export_reference_token always;
    add_header X-Run $export_run_id always;
}
location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports/file$ {
    export_download zone=exports;
    export_run_id $run_id;
}
location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports/data$ {
    export_data zone=exports;
    export_run_id $run_id;
}
CONF

    $block->set_value('user_files', <<'FILES') unless $block->user_files;
>>> store/.keep
>>> runs/11111111-2222-4333-8444-555555555555/checks.json
[{"host": "esx-1", "status": "PASSED"}, {"host": "esx-2", "status": "FAILED"}]
FILES
});

run_tests();

__DATA__

=== TEST 1: POST answers 202 with Location, Retry-After and an ExportTaskRest
--- request
POST /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports
--- error_code: 202
--- response_headers_like
Content-Type: ^application/json$
Location: ^/v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports$
Retry-After: ^\d+$
X-Task: ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$
X-State: ^(QUEUED|IN_PROGRESS|COMPLETED)$
X-Run: ^11111111-2222-4333-8444-555555555555$
--- json eval
{
    status => qr/^(QUEUED|IN_PROGRESS|COMPLETED)$/,
    progress => sub { defined $_[0] && $_[0] =~ /^\d+(\.\d+)?$/ && $_[0] <= 100 },
    startTimestamp => $::TIME,
    id => $::UUID,
    runId => '11111111-2222-4333-8444-555555555555',
    warnings => sub { ref $_[0] eq 'ARRAY' },
    error => '!',
}
--- no_error_log
[error]



=== TEST 2: POST, wait, GET, HEAD, DELETE, then 404: the whole life of a task
--- request eval
[
    "POST /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports?wait=10",
    "HEAD /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
    "DELETE /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
]
--- error_code eval
[202, 200, 200, 204, 404]
--- response_body eval
[qr/./, qr/"COMPLETED"/, "", "", qr/Export Task Not Found/]
--- json eval
[
    { status => qr/^(QUEUED|IN_PROGRESS|COMPLETED)$/ },
    {
        status => 'COMPLETED',
        progress => 100,
        startTimestamp => $::TIME,
        endTimestamp => $::TIME,
        id => $::UUID,
        runId => '11111111-2222-4333-8444-555555555555',
        downloadUrl => qr{^/v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports/file\?task=[0-9a-f-]{36}&expires=\d+&signature=[\w-]{43}$},
        downloadUrlExpiresAt => $::TIME,
        size => qr/^\d+$/,
        warnings => sub { ref $_[0] eq 'ARRAY' && !@{ $_[0] } },
    },
    undef,
    undef,
    { _error => 'EXPORT_TASK_NOT_FOUND', message => 'Export Task Not Found' },
]



=== TEST 3: re-POST of an unfinished export gives the same task and charges nothing
--- main_config
thread_pool exports threads=1;
--- request eval
[
    "POST /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
    "POST /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
]
--- error_code eval
[202, 202]
--- user_files eval
">>> store/.keep\n"
. ">>> runs/11111111-2222-4333-8444-555555555555/big.ndjson\n"
. (qq({"host": "esx", "msg": "@{[ 'x' x 300 ]}"}\n) x 160000)
--- json eval
[
    { id => sub { $::first = $_[0]; $_[0] =~ $::UUID } },
    { id => sub { $_[0] eq $::first }, status => qr/^(QUEUED|IN_PROGRESS)$/ },
]



=== TEST 4: POST after a finished export replaces it with a new task
--- request eval
[
    "POST /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports?wait=10",
    "POST /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
]
--- error_code eval
[202, 200, 202]
--- json eval
[
    { id => sub { $::first = $_[0]; 1 } },
    { status => 'COMPLETED', id => sub { $_[0] eq $::first } },
    { id => sub { $_[0] =~ $::UUID && $_[0] ne $::first } },
]



=== TEST 5: POST for a run with no source directory is 404 EXPORT_RUN_NOT_FOUND
--- request
POST /v1/system/check-sets/99999999-2222-4333-8444-555555555555/exports
--- error_code: 404
--- response_headers_like
Content-Type: ^application/json$
X-Ref: ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$
--- json eval
{
    _error => 'EXPORT_RUN_NOT_FOUND',
    errorType => 'NOT_FOUND',
    arguments => sub { $_[0][0] eq '99999999-2222-4333-8444-555555555555' },
}



=== TEST 6: a runId that is not a canonical UUID is 400 EXPORT_RUN_ID_INVALID
--- request eval
[
    "POST /v1/system/check-sets/not-a-uuid/exports",
    "GET /v1/system/check-sets/11111111222243338444555555555555/exports",
    "DELETE /v1/system/check-sets/11111111-2222-4333-8444-55555555555g/exports",
    "GET /v1/system/check-sets/%7B11111111-2222-4333-8444-555555555555%7D/exports",
]
--- error_code eval
[400, 400, 400, 400]
--- json eval
[
    { _error => 'EXPORT_RUN_ID_INVALID', errorType => 'VALIDATION',
      arguments => sub { $_[0][0] eq 'not-a-uuid' } },
    { _error => 'EXPORT_RUN_ID_INVALID' },
    { _error => 'EXPORT_RUN_ID_INVALID' },
    { _error => 'EXPORT_RUN_ID_INVALID' },
]



=== TEST 7: an upper-case runId is the same run, answered and exported in lower case
--- config
location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports$ {
    export_api zone=exports;
    export_run_id $run_id;
    export_source $TEST_NGINX_HTML_DIR/runs/$export_run_id;
    export_store $TEST_NGINX_HTML_DIR/store;
    export_thread_pool exports;
}
--- user_files
>>> store/.keep
>>> runs/11111111-2222-4333-8444-5555555555aa/a.json
[{"a": 1}]
--- request eval
[
    "POST /v1/system/check-sets/11111111-2222-4333-8444-5555555555AA/exports",
    "GET /v1/system/check-sets/11111111-2222-4333-8444-5555555555aa/exports?wait=10",
]
--- error_code eval
[202, 200]
--- json eval
[
    { runId => '11111111-2222-4333-8444-5555555555aa' },
    { runId => '11111111-2222-4333-8444-5555555555aa', status => 'COMPLETED' },
]



=== TEST 8: GET and DELETE with no task for the run are 404 EXPORT_TASK_NOT_FOUND
--- request eval
[
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
    "DELETE /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports?wait=3",
]
--- error_code eval
[404, 404, 404]
--- json eval
[
    { _error => 'EXPORT_TASK_NOT_FOUND', message => 'Export Task Not Found',
      errorType => 'NOT_FOUND' },
    { _error => 'EXPORT_TASK_NOT_FOUND' },
    { _error => 'EXPORT_TASK_NOT_FOUND' },
]



=== TEST 9: HEAD with no task is 404 without a body
--- request
HEAD /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body



=== TEST 10: other methods are 405 with Allow
--- request eval
[
    "PUT /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports\n{}",
    "PATCH /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports\n{}",
    "OPTIONS /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
]
--- error_code eval
[405, 405, 405]
--- response_headers eval
[
    "Allow: GET, HEAD, POST, DELETE",
    "Allow: GET, HEAD, POST, DELETE",
    "Allow: GET, HEAD, POST, DELETE",
]
--- json eval
[
    { _error => 'EXPORT_METHOD_NOT_ALLOWED' },
    { _error => 'EXPORT_METHOD_NOT_ALLOWED' },
    { _error => 'EXPORT_METHOD_NOT_ALLOWED' },
]



=== TEST 11: ?wait that is not a number of seconds is 400
--- request
GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports?wait=soon
--- error_code: 400
--- json eval
{ _error => 'EXPORT_WAIT_INVALID', arguments => sub { $_[0][0] eq 'soon' } }



=== TEST 12: ?wait=N holds the request until the export finishes
--- main_config
thread_pool exports threads=1;
--- user_files eval
">>> store/.keep\n"
. ">>> runs/11111111-2222-4333-8444-555555555555/big.ndjson\n"
. (qq({"host": "esx", "msg": "@{[ 'x' x 300 ]}"}\n) x 40000)
--- request eval
[
    "POST /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports?wait=20",
]
--- error_code eval
[202, 200]
--- json eval
[
    { status => qr/^(QUEUED|IN_PROGRESS)$/ },
    { status => 'COMPLETED', progress => 100 },
]



=== TEST 13: ?wait=N ends after N seconds with the current state
--- config
location ~ ^/v1/system/check-sets/(?<run_id>[^/]+)/exports$ {
    export_api zone=exports;
    export_run_id $run_id;
    export_source $TEST_NGINX_HTML_DIR/runs/$run_id;
    export_store $TEST_NGINX_HTML_DIR/store;
    export_thread_pool exports;
    export_wait_max 1s;
    export_compression_level 9;
}
--- main_config
thread_pool exports threads=1;
--- user_files eval
">>> store/.keep\n"
. ">>> runs/11111111-2222-4333-8444-555555555555/big.ndjson\n"
. do {
    # hex noise at level 9 keeps the export busy for seconds
    srand(1);
    CORE::join '', map {
        my $s = CORE::join '', map { sprintf '%08x', int rand 2**32 } 1 .. 20;
        qq({"host": "esx", "msg": "$s"}\n)
    } 1 .. 300000
}
--- request eval
[
    "POST /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports?wait=30",
]
--- error_code eval
[202, 200]
--- json eval
[
    undef,
    { status => qr/^(QUEUED|IN_PROGRESS)$/, endTimestamp => undef },
]
--- timeout: 10



=== TEST 14: a malformed report is a warning, not a failure
--- user_files
>>> store/.keep
>>> runs/11111111-2222-4333-8444-555555555555/good.json
{"rows": [{"a": 1}]}
>>> runs/11111111-2222-4333-8444-555555555555/bad.json
{"a": [1, 2,
--- request eval
[
    "POST /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports?wait=10",
]
--- error_code eval
[202, 200]
--- json eval
[
    undef,
    {
        status => 'COMPLETED',
        warnings => sub {
            my $w = shift;
            @$w == 1 && $w->[0]{report} eq 'bad.json'
            && $w->[0]{offset} =~ /^\d+$/ && length $w->[0]{message}
        },
    },
]




=== TEST 15: a run path that is a file, not a directory, is 404 EXPORT_RUN_NOT_FOUND
--- user_files
>>> store/.keep
>>> runs/11111111-2222-4333-8444-555555555555
not a directory but a file
--- request
POST /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports
--- error_code: 404
--- json eval
{ _error => 'EXPORT_RUN_NOT_FOUND' }



=== TEST 17: the download location only allows GET and HEAD
--- request
POST /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports/file?task=x
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- json eval
{ _error => 'EXPORT_METHOD_NOT_ALLOWED' }



=== TEST 18: a link without its parameters is 403 EXPORT_LINK_INVALID
--- request eval
[
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports/file",
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports/file?task=11111111-2222-4333-8444-555555555555&expires=9999999999&signature=short",
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports/file?task=11111111-2222-4333-8444-555555555555&expires=x&signature=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
]
--- error_code eval
[403, 403, 403]
--- json eval
[
    { _error => 'EXPORT_LINK_INVALID', errorType => 'ACCESS_DENIED' },
    { _error => 'EXPORT_LINK_INVALID' },
    { _error => 'EXPORT_LINK_INVALID' },
]



=== TEST 19: exports/data with no completed export is 404
--- request
GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports/data
--- error_code: 404
--- json eval
{ _error => 'EXPORT_TASK_NOT_FOUND' }



=== TEST 20: exports/data serves the completed archive as a zip attachment
--- request eval
[
    "POST /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports",
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports?wait=10",
    "GET /v1/system/check-sets/11111111-2222-4333-8444-555555555555/exports/data",
]
--- error_code eval
[202, 200, 200]
--- response_headers eval
[
    "",
    "",
    "Content-Type: application/zip\nContent-Disposition: attachment; filename=\"export-11111111-2222-4333-8444-555555555555.zip\"",
]
--- response_body_like eval
[qr/./, qr/COMPLETED/, qr/^PK\x03\x04/]
