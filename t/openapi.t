# docs/openapi.yaml against tools we did not write and against the
# module's real answers:
#
#   - util/npm-tools.sh installs @redocly/cli, ajv-cli and ajv-formats
#     into build/npm;
#   - `redocly lint` finds no error in the document (the warning about
#     the missing license field is the only one allowed);
#   - real bodies of a running module (202, 200 COMPLETED, 200 FAILED,
#     400, 403, 404, 405, 429, and the ArcGIS, Uniware and WebAdMIT
#     answers) are validated with ajv against the schema
#     that the document gives for that path, method and status;
#   - bodies with a wrong type or a missing required field are rejected,
#     so the validation can fail.
#
# Port 2008.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/helpers";

use Cwd qw(abs_path);
use Digest::SHA qw(hmac_sha256);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use Test::More;
use Time::HiRes qw(sleep time);

use ExportTest qw(start_nginx stop_nginx http_req make_run wait_status);

my $top = abs_path("$FindBin::Bin/..");
my $bin = "$top/build/npm/node_modules/.bin";
my $tmp = tempdir(CLEANUP => 1);
my $js = JSON::PP->new->canonical;

# no telemetry, no update checks: traffic stays on this machine
$ENV{REDOCLY_TELEMETRY} = 'off';
$ENV{REDOCLY_SUPPRESS_UPDATE_NOTICE} = 'true';
$ENV{REDOCLY_SUPPRESS_NOTIFICATIONS} = 'true';
$ENV{DO_NOT_TRACK} = '1';

# --- the tools

my $out = `'$top/util/npm-tools.sh' 2>&1`;
is($?, 0, 'util/npm-tools.sh succeeds') or diag $out;
ok(-x "$bin/$_", "build/npm has $_") for qw(redocly ajv);
$out = `'$top/util/npm-tools.sh' 2>&1`;
unlike($out, qr/installing/, 'a second run of util/npm-tools.sh installs nothing');
like($out, qr{^redocly \Q$bin\E/redocly$}m, 'it prints where redocly is');

unless (-x "$bin/redocly" && -x "$bin/ajv") {
    fail('the npm tools are not available; nothing more can be checked');
    done_testing();
    exit;
}

# --- redocly lint

$out = `cd '$top' && '$bin/redocly' lint docs/openapi.yaml --format=json 2>/dev/null`;
my $lint = eval { decode_json($out) };
ok($lint, 'redocly lint gives a JSON report') or diag $out;
is($lint->{totals}{errors}, 0, 'redocly lint: no errors')
    or diag explain [ grep { $_->{severity} eq 'error' } @{ $lint->{problems} } ];
my @other = grep { $_->{ruleId} ne 'info-license' } @{ $lint->{problems} || [] };
is_deeply([ map { "$_->{ruleId}: $_->{message}" } @other ], [],
          'redocly lint: no warning but the missing license field');

# --- the document as JSON, its schemas as JSON Schema

$out = `cd '$top' && '$bin/redocly' bundle docs/openapi.yaml --ext json -o '$tmp/openapi.json' 2>&1`;
is($?, 0, 'redocly bundle converts the document to JSON') or diag $out;
my $doc = eval { decode_json(slurp("$tmp/openapi.json")) } || {};
my $schemas = $doc->{components}{schemas} || {};
my $defs = { map { $_ => to_json_schema($schemas->{$_}) } keys %$schemas };
ok(exists $defs->{$_}, "components.schemas has $_")
    for qw(ExportTaskRest ExportTaskError Warning Error);

# OpenAPI 3.0 schema objects into draft-07 JSON Schema: refs point into
# "definitions", "nullable: true" becomes a "null" type, and the
# OpenAPI-only keywords that ajv's strict mode rejects are dropped
sub to_json_schema {
    my ($s) = @_;
    if (ref $s eq 'ARRAY') {
        return [ map { to_json_schema($_) } @$s ];
    }
    return $s unless ref $s eq 'HASH';
    my %o;
    for my $k (keys %$s) {
        next if $k =~ /^(example|xml|externalDocs|discriminator|nullable)$/;
        next if $k =~ /^x-/;
        if ($k eq '$ref') {
            ($o{$k} = $s->{$k}) =~ s{^#/components/schemas/}{#/definitions/};
        } elsif ($k eq 'properties') {
            $o{$k} = { map { $_ => to_json_schema($s->{$k}{$_}) }
                       keys %{ $s->{$k} } };
        } else {
            $o{$k} = to_json_schema($s->{$k});
        }
    }
    if ($s->{nullable}) {
        if (defined $o{type}) {
            $o{type} = [ $o{type}, 'null' ];
            push @{ $o{enum} }, undef
                if $o{enum} && !grep { !defined } @{ $o{enum} };
        } else {
            return { anyOf => [ \%o, { type => 'null' } ] };
        }
    }
    return \%o;
}

# the schema the document gives for one answer
sub response_schema {
    my ($path, $method, $status) = @_;
    my $r = $doc->{paths}{$path}{$method}{responses}{$status};
    while ($r && $r->{'$ref'}) {
        my $ref = $r->{'$ref'};
        $ref =~ s{^#/}{};
        $r = $doc;
        $r = $r->{$_} for split m{/}, $ref;
    }
    my $s = $r && $r->{content} && $r->{content}{'application/json'}
            && $r->{content}{'application/json'}{schema};
    return $s ? to_json_schema($s) : undef;
}

# Validations are queued and run at the end, one ajv run for all the
# bodies that share a schema: each run of node takes most of a second.
my @cases;

# valid_ok(WHAT, SCHEMA, BODY, [EXTRA]): BODY (text) must be valid
# against SCHEMA and the EXTRA constraints
sub valid_ok {
    my ($what, $schema, $body, $extra) = @_;
    ok($schema, "$what: the document has a schema for it") or return;
    push @cases, { what => $what, schema => $schema, body => $body,
                   extra => $extra, valid => 1 };
}

# invalid_ok(...): the same, but BODY must be rejected
sub invalid_ok {
    my ($what, $schema, $body, $extra) = @_;
    push @cases, { what => $what, schema => $schema, body => $body,
                   extra => $extra, valid => 0 };
}

sub run_cases {
    my (%group, @order);
    my $n = 0;
    for my $c (@cases) {
        my $schema = $js->encode({
            '$schema' => 'http://json-schema.org/draft-07/schema#',
            definitions => $defs,
            allOf => [ $c->{schema}, $c->{extra} ? $c->{extra} : () ],
        });
        push @order, $schema unless $group{$schema};
        push @{ $group{$schema} }, $c;
        $c->{file} = "$tmp/body-" . ++$n . '.json';
        spew($c->{file}, $c->{body});
    }
    my $g = 0;
    for my $schema (@order) {
        my $sf = "$tmp/schema-" . ++$g . '.json';
        spew($sf, $schema);
        my $d = join ' ', map { "-d '$_->{file}'" } @{ $group{$schema} };
        my $o = `'$bin/ajv' validate --spec=draft7 -c ajv-formats --strict=true --all-errors --errors=text -s '$sf' $d 2>&1`;
        # "FILE valid" or "FILE invalid" and the errors, for each file
        my $cur;
        for my $line (split /\n/, $o) {
            my ($file, $verdict) = $line =~ /^(\S+) (valid|invalid)$/;
            if ($file && $file =~ m{/body-\d+\.json$}) {
                ($cur) = grep { $_->{file} eq $file } @{ $group{$schema} };
                $cur->{verdict} = $verdict;
                $cur->{out} = '';
            } elsif ($cur) {
                $cur->{out} .= "$line\n";
            } else {
                $_->{out} .= "$line\n" for @{ $group{$schema} };
            }
        }
    }
    for my $c (@cases) {
        my $want = $c->{valid} ? 'valid' : 'invalid';
        is($c->{verdict} // 'no verdict', $want,
           "$c->{what}: the body is " . ($c->{valid} ? 'valid' : 'rejected'))
            or diag(($c->{out} // '') . $c->{body});
    }
}

# what the document's prose promises beyond the schemas
sub fields {
    return { type => 'object', required => [@_],
             properties => { map { $_ => {} } @_ } };
}
my $ERROR_FIELDS = fields(qw(errorCode errorType arguments context message
                             remediationMessage referenceToken));
my $COMPLETED_FIELDS = fields(qw(downloadUrl downloadUrlExpiresAt size));
my $FAILED_FIELDS = fields('error');

# --- real answers

my $key = 'openapi-test-key-' . ('k' x 16);
# the VMware API, and the three other styles beside it
my $styles = <<'LOC';
        location = /arcgis/admin/healthCheck/reports/export {
            export_api zone=exports style=arcgis;
            export_source @ROOT@/runs/$export_run_id;
            export_store @ROOT@/store;
            export_thread_pool exports;
            export_job_uri /arcgis/admin/jobs/$export_job_id;
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
            export_download_uri /exports/file;
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
LOC

my $n = start_nginx(port => 2008, files => { 'conf/link.key' => $key },
                    http => <<'HTTP',
    export_link_secret link.key;
    export_quota_zone $http_x_client zone=per_client:1m;
HTTP
                    server => ExportTest::default_locations('@ROOT@',
                                  'export_quota zone=per_client active=1;',
                                  '@ROOT@/store') . $styles);

sub run_id { sprintf '%08x-0000-4000-8000-%012x', $_[0], $_[1] }

my $EXPORTS = '/v1/system/check-sets/{runId}/exports';
my $FILE = '/v1/system/check-sets/{runId}/exports/file';
my $DATA = '/v1/system/check-sets/{runId}/exports/data';
my $api = sub { "/v1/system/check-sets/$_[0]/exports" };

# a run that completes with 40 warnings: 32 listed, 8 omitted
my $ok_run = run_id(1, 1);
make_run($n->{root}, $ok_run, {
    'good.json' => '[{"a": 1, "b": "x"}]',
    map { ("broken$_.json" => '{"x": ') } 1 .. 40,
});

# a run that fails: more than 10000 reports
my $failed_run = run_id(1, 2);
make_run($n->{root}, $failed_run, { map { ("r$_.json" => '[]') } 1 .. 10001 });

my $res = http_req('POST', $api->($ok_run));
is($res->{status}, 202, 'POST: 202');
my $posted = $res->{content};
valid_ok('202 POST ExportTaskRest', response_schema($EXPORTS, 'post', 202), $posted);

my $t = wait_status($ok_run);
is($t->{status}, 'COMPLETED', 'the export completes');
$res = http_req('GET', $api->($ok_run));
my $completed = $res->{content};
is(scalar @{ $t->{warnings} }, 32, 'COMPLETED with 32 warnings listed');
is($t->{warningsOmitted}, 8, '... and 8 omitted');
valid_ok('200 GET COMPLETED', response_schema($EXPORTS, 'get', 200), $completed,
         $COMPLETED_FIELDS);

http_req('POST', $api->($failed_run));
$t = wait_status($failed_run);
is($t->{status}, 'FAILED', 'the export of 10001 reports fails');
$res = http_req('GET', $api->($failed_run));
my $failed = $res->{content};
valid_ok('200 GET FAILED', response_schema($EXPORTS, 'get', 200), $failed,
         $FAILED_FIELDS);

my %errors;

sub error_case {
    my ($what, $res, $status, $code, $schema) = @_;
    is($res->{status}, $status, "$what: HTTP $status");
    is(eval { decode_json($res->{content})->{errorCode} }, $code, "$what: $code");
    valid_ok("$status $what", $schema, $res->{content}, $ERROR_FIELDS);
    $errors{$status} //= $res->{content};
}

error_case('POST, run id not a UUID',
           http_req('POST', $api->('not-a-uuid')),
           400, 'EXPORT_RUN_ID_INVALID', response_schema($EXPORTS, 'post', 400));
error_case('GET, wait not a number',
           http_req('GET', $api->($ok_run) . '?wait=soon'),
           400, 'EXPORT_WAIT_INVALID', response_schema($EXPORTS, 'get', 400));
error_case('GET, no task',
           http_req('GET', $api->(run_id(1, 3))),
           404, 'EXPORT_TASK_NOT_FOUND', response_schema($EXPORTS, 'get', 404));
error_case('POST, no run directory',
           http_req('POST', $api->(run_id(1, 4))),
           404, 'EXPORT_RUN_NOT_FOUND', response_schema($EXPORTS, 'post', 404));
error_case('exports/data, no completed export',
           http_req('GET', $api->($failed_run) . '/data'),
           404, 'EXPORT_TASK_NOT_FOUND', response_schema($DATA, 'get', 404));
error_case('DELETE, no task',
           http_req('DELETE', $api->(run_id(1, 3))),
           404, 'EXPORT_TASK_NOT_FOUND', response_schema($EXPORTS, 'delete', 404));

# 405 is not an operation of the document: its info says "an Error body"
error_case('PUT', http_req('PUT', $api->($ok_run)),
           405, 'EXPORT_METHOD_NOT_ALLOWED', { '$ref' => '#/definitions/Error' });

# signed links
my $task = decode_json($completed)->{id};
sub link_for {
    my ($run, $task, $expires, $sig) = @_;
    $sig //= encode_base64url(hmac_sha256("v1\n$run\n$task\n$expires", $key));
    return $api->($run) . "/file?task=$task&expires=$expires&signature=$sig";
}
error_case('link with a wrong signature',
           http_req('GET', link_for($ok_run, $task, time + 60, 'A' x 43)),
           403, 'EXPORT_LINK_INVALID', response_schema($FILE, 'get', 403));
error_case('link that has expired',
           http_req('GET', link_for($ok_run, $task, int(time) - 60)),
           403, 'EXPORT_LINK_EXPIRED', response_schema($FILE, 'get', 403));
error_case('link to a task that does not exist',
           http_req('GET', link_for($ok_run, run_id(9, 9), int(time) + 60)),
           404, 'EXPORT_TASK_NOT_FOUND', response_schema($FILE, 'get', 404));
$res = http_req('GET', link_for($ok_run, $task, int(time) + 60));
is($res->{status}, 200, 'a link signed here with the same key works');

# 429: the client's one slot is taken by an export that takes a while
my $big_run = run_id(1, 5);
my $big = join '', map { qq({"i": $_, "pad": "@{[ 'p' x 200 ]}"}\n) } 1 .. 150000;
make_run($n->{root}, $big_run, { 'big.ndjson' => $big });
make_run($n->{root}, run_id(1, 6), { 'small.json' => '[1]' });
$res = http_req('POST', $api->($big_run), { 'X-Client' => 'c1' });
is($res->{status}, 202, 'the quota allows a first export');
error_case('POST over the quota',
           http_req('POST', $api->(run_id(1, 6)), { 'X-Client' => 'c1' }),
           429, 'EXPORT_QUOTA_EXCEEDED', response_schema($EXPORTS, 'post', 429));
http_req('DELETE', $api->($big_run));

# --- the other styles' answers

sub req_body {
    my ($method, $path, $body, $type) = @_;
    return HTTP::Tiny->new(timeout => 30, keep_alive => 0)->request($method,
               "http://127.0.0.1:2008$path",
               { headers => { 'Content-Type' => $type }, content => $body });
}

my $SUBMIT = '/{context}/admin/healthCheck/reports/export';
my $JOB = '/{context}/admin/jobs/{jobid}';
my $STATUS = '/services/rest/v1/export/job/status';
my $FILES = '/api/v1/user_identities/{user_identity_id}/exports/{export_id}/export_files';
my $ONE_FILE = '/api/v1/exports/{export_id}/export_files/{export_file_id}';
my $FORM = 'application/x-www-form-urlencoded';

make_run($n->{root}, $_, { 'checks.json' => '[{"a": 1}]', 'bad.json' => '[' })
    for qw(vegcl1xm6u 86446);

my %style;

$res = req_body('POST', '/arcgis/admin/healthCheck/reports/export',
                'runIds=vegcl1xm6u&f=json&token=t', $FORM);
is($res->{status}, 200, 'ArcGIS submit: 200');
$style{submit} = $res->{content};
valid_ok('200 ArcGIS submit', response_schema($SUBMIT, 'post', 200),
         $res->{content});
my $jobid = eval { decode_json($res->{content})->{jobid} } // 'none';

my $job;
for (1 .. 300) {
    $res = http_req('GET', "/arcgis/admin/jobs/$jobid?f=json");
    $job = eval { decode_json($res->{content}) };
    last if $job && $job->{status} && $job->{status} eq 'COMPLETED';
    sleep 0.1;
}
is($job->{status}, 'COMPLETED', 'the ArcGIS job completes');
$style{job} = $res->{content};
valid_ok('200 ArcGIS job COMPLETED', response_schema($JOB, 'get', 200),
         $res->{content});

$res = req_body('POST', '/arcgis/admin/healthCheck/reports/export',
                'runIds=vegcl1xm6u,nosuchrun&f=json', $FORM);
is($res->{status}, 404, 'ArcGIS submit of an unknown run: 404');
$style{arcgis_error} = $res->{content};
valid_ok('404 ArcGIS submit', response_schema($SUBMIT, 'post', 404),
         $res->{content});
$res = req_body('POST', '/arcgis/admin/healthCheck/reports/export',
                'runIds=a/b&f=json', $FORM);
valid_ok('400 ArcGIS submit', response_schema($SUBMIT, 'post', 400),
         $res->{content});
$res = http_req('GET', '/arcgis/admin/jobs/jnope?f=json');
valid_ok('404 ArcGIS job', response_schema($JOB, 'get', 404),
         $res->{content});

$res = req_body('POST', '/services/rest/v1/export/job/status',
                qq({"jobCode": "$jobid"}), 'application/json');
is($res->{status}, 200, 'Uniware: 200');
$style{uniware} = $res->{content};
valid_ok('200 Uniware SUCCESSFUL', response_schema($STATUS, 'post', 200),
         $res->{content});
$res = req_body('POST', '/services/rest/v1/export/job/status', '{}',
                'application/json');
$style{uniware_error} = $res->{content};
valid_ok('400 Uniware', response_schema($STATUS, 'post', 400),
         $res->{content});
$res = req_body('POST', '/services/rest/v1/export/job/status',
                '{"jobCode": "EXP-1"}', 'application/json');
valid_ok('404 Uniware', response_schema($STATUS, 'post', 404),
         $res->{content});

$res = http_req('POST', '/api/v1/user_identities/7/exports/86446/export_files');
is($res->{status}, 201, 'WebAdMIT POST: 201');
$style{files} = $res->{content};
valid_ok('201 WebAdMIT POST', response_schema($FILES, 'post', 201),
         $res->{content});
my $href = eval { decode_json($res->{content})->{export_files}[0]{href} }
           // '/none';
my $file;
for (1 .. 300) {
    $res = http_req('GET', $href);
    $file = eval { decode_json($res->{content}) };
    last if $file && $file->{export_files}
            && $file->{export_files}{status} !~ /^(initializing|queued|in_progress)$/;
    sleep 0.1;
}
is($file->{export_files}{status}, 'success_with_errors',
   'the WebAdMIT file is ready, with a warning');
$style{file} = $res->{content};
valid_ok('200 WebAdMIT GET', response_schema($ONE_FILE, 'get', 200),
         $res->{content});
$res = http_req('GET', '/api/v1/exports/86446/export_files/999999');
is($res->{status}, 404, 'WebAdMIT unknown file: 404');
valid_ok('404 WebAdMIT GET', response_schema($ONE_FILE, 'get', 404),
         $res->{content});

# --- the validation can fail

sub mutate {
    my ($body, $f) = @_;
    my $v = decode_json($body);
    $f->($v);
    return $js->encode($v);
}

my $task_schema = response_schema($EXPORTS, 'get', 200);
my $error_schema = { '$ref' => '#/definitions/Error' };

invalid_ok('progress as a string', $task_schema,
           mutate($completed, sub { $_[0]{progress} = "$_[0]{progress}" }));
invalid_ok('no id', $task_schema, mutate($posted, sub { delete $_[0]{id} }));
invalid_ok('no endTimestamp', $task_schema,
           mutate($posted, sub { delete $_[0]{endTimestamp} }));
invalid_ok('endTimestamp a number', $task_schema,
           mutate($posted, sub { $_[0]{endTimestamp} = 5 }));
invalid_ok('status not a state', $task_schema,
           mutate($posted, sub { $_[0]{status} = 'DONE' }));
invalid_ok('size a string', $task_schema,
           mutate($completed, sub { $_[0]{size} = "$_[0]{size}" }));
invalid_ok('id not a UUID', $task_schema,
           mutate($posted, sub { $_[0]{id} = 'task-1' }));
invalid_ok('warning offset a string', $task_schema,
           mutate($completed, sub { $_[0]{warnings}[0]{offset} .= '' }));
invalid_ok('warning without report', $task_schema,
           mutate($completed, sub { delete $_[0]{warnings}[0]{report} }));
invalid_ok('33 warnings', $task_schema,
           mutate($completed, sub { push @{ $_[0]{warnings} }, $_[0]{warnings}[0] }));
invalid_ok('error without referenceToken', $task_schema,
           mutate($failed, sub { delete $_[0]{error}{referenceToken} }));
invalid_ok('COMPLETED without downloadUrl', $task_schema,
           mutate($completed, sub { delete $_[0]{downloadUrl} }), $COMPLETED_FIELDS);
invalid_ok('Error arguments not an array', $error_schema,
           mutate($errors{404}, sub { $_[0]{arguments} = 'x' }));
invalid_ok('Error context a string', $error_schema,
           mutate($errors{404}, sub { $_[0]{context} = 'export' }));
invalid_ok('Error with an unknown errorCode', $error_schema,
           mutate($errors{400}, sub { $_[0]{errorCode} = 'EXPORT_NOPE' }));
invalid_ok('Error without a message', $error_schema,
           mutate($errors{429}, sub { delete $_[0]{message} }), $ERROR_FIELDS);

invalid_ok('ArcGIS submit without jobid', response_schema($SUBMIT, 'post', 200),
           mutate($style{submit}, sub { delete $_[0]{jobid} }));
invalid_ok('ArcGIS job with starttime a string',
           response_schema($JOB, 'get', 200),
           mutate($style{job}, sub { $_[0]{starttime} .= '' }));
invalid_ok('ArcGIS error code a string', response_schema($SUBMIT, 'post', 404),
           mutate($style{arcgis_error}, sub { $_[0]{error}{code} .= '' }));
invalid_ok('Uniware successful a string', response_schema($STATUS, 'post', 200),
           mutate($style{uniware}, sub { $_[0]{successful} = 'true' }));
invalid_ok('Uniware error without fieldName',
           response_schema($STATUS, 'post', 400),
           mutate($style{uniware_error},
                  sub { delete $_[0]{errors}[0]{fieldName} }));
invalid_ok('WebAdMIT file id a string', response_schema($FILES, 'post', 201),
           mutate($style{files},
                  sub { $_[0]{export_files}[0]{id} .= '' }));
invalid_ok('WebAdMIT status not a word', response_schema($ONE_FILE, 'get', 200),
           mutate($style{file},
                  sub { $_[0]{export_files}{status} = 'done' }));

run_cases();

unlike(slurp("$n->{root}/logs/error.log"), qr/\[(alert|crit|emerg)\]/,
       'no alert, crit or emerg in error.log');
stop_nginx();

done_testing();

sub slurp {
    open my $fh, '<:raw', $_[0] or return '';
    local $/;
    return scalar <$fh>;
}

sub spew {
    open my $fh, '>:raw', $_[0] or die "$_[0]: $!";
    print $fh $_[1];
    close $fh;
}
