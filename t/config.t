# Configuration checks: every mistake fails at start (nginx -t) with a
# message that names the directive and the bad value.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('main_config', "thread_pool exports threads=1;\n")
        unless defined $block->main_config;
    $block->set_value('http_config', "export_zone exports:1m;\n")
        unless defined $block->http_config;
    $block->set_value('user_files', ">>> store/.keep\n>>> key\n"
                                    . ('s' x 32) . "\n")
        unless defined $block->user_files;
});

run_tests();

__DATA__

=== TEST 1: a complete configuration starts
--- config
location ~ ^/e/(?<run_id>[^/]+)$ {
    export_api zone=exports;
    export_run_id $run_id;
    export_source $TEST_NGINX_HTML_DIR/runs/$run_id;
    export_store $TEST_NGINX_HTML_DIR/store;
    export_thread_pool exports;
    export_ttl 10m;
    export_link_secret $TEST_NGINX_HTML_DIR/key;
    export_link_ttl 10s;
    export_wait_max 5s;
    export_compression_level 1;
    export_csv_formula_guard off;
    export_csv_bom on;
    export_max_report_size 10m;
    export_max_columns 100;
}
location ~ ^/e/(?<run_id>[^/]+)/file$ {
    export_download zone=exports;
}
location ~ ^/e/(?<run_id>[^/]+)/data$ {
    export_data zone=exports;
    export_run_id $run_id;
}
--- request
GET /e/x
--- error_code: 400
--- no_error_log
[emerg]



=== TEST 2: export_api with a zone no export_zone defines
--- http_config
--- config
location /e {
    export_api zone=nowhere;
    export_run_id $arg_run;
    export_source /tmp;
    export_store $TEST_NGINX_HTML_DIR/store;
}
--- must_die
--- error_log
unknown export zone "nowhere": no "export_zone" defines it



=== TEST 3: export_api without zone=
--- config
location /e {
    export_api exports;
}
--- must_die
--- error_log
invalid parameter "exports": the form is zone=NAME



=== TEST 4: export_zone with a bad size
--- http_config
export_zone exports:lots;
--- config
--- must_die
--- error_log
invalid zone size "lots" in "exports:lots"



=== TEST 5: export_zone without a size
--- http_config
export_zone exports;
--- config
--- must_die
--- error_log
invalid zone "exports": the form is name:size



=== TEST 6: export_zone too small to hold a task table
--- http_config
export_zone exports:8k;
--- config
--- must_die
--- error_log
zone "exports" is too small



=== TEST 7: the same export_zone twice
--- http_config
export_zone exports:1m;
export_zone exports:1m;
--- config
--- must_die
--- error_log
duplicate export zone "exports"



=== TEST 8: export_store that does not exist
--- config
location /e {
    export_api zone=exports;
    export_run_id $arg_run;
    export_source /tmp;
    export_store $TEST_NGINX_HTML_DIR/no-such-store;
}
--- must_die
--- error_log eval
qr/export_store "[^"]*no-such-store" cannot be used: stat\(\) failed \(2: No such file or directory\)/



=== TEST 9: export_store that is a file
--- config
location /e {
    export_api zone=exports;
    export_run_id $arg_run;
    export_source /tmp;
    export_store $TEST_NGINX_HTML_DIR/key;
}
--- must_die
--- error_log eval
qr/export_store "[^"]*\/key" is not a directory/



=== TEST 11: an unknown thread pool
--- config
location /e {
    export_api zone=exports;
    export_run_id $arg_run;
    export_source /tmp;
    export_store $TEST_NGINX_HTML_DIR/store;
    export_thread_pool nopool;
}
--- must_die
--- error_log
unknown thread pool "nopool"



=== TEST 12: export_ttl that is not a time
--- config
location /e {
    export_ttl forever;
}
--- must_die
--- error_log
"export_ttl" directive invalid value



=== TEST 13: export_ttl of zero
--- config
location /e {
    export_ttl 0;
}
--- must_die
--- error_log
"export_ttl" must be more than 0



=== TEST 14: export_link_ttl of zero
--- config
location /e {
    export_link_ttl 0s;
}
--- must_die
--- error_log
"export_link_ttl" must be more than 0



=== TEST 15: export_compression_level out of range
--- config
location /e {
    export_compression_level 12;
}
--- must_die
--- error_log
must be between 0 (store) and 9 (best compression)



=== TEST 16: export_link_secret file that is missing
--- config
location /e {
    export_link_secret $TEST_NGINX_HTML_DIR/no-key;
}
--- must_die
--- error_log eval
qr/export_link_secret "[^"]*no-key": open\(\) failed \(2: No such file or directory\)/



=== TEST 17: export_link_secret too short to be a key
--- user_files
>>> store/.keep
>>> key
short
--- config
location /e {
    export_link_secret $TEST_NGINX_HTML_DIR/key;
}
--- must_die
--- error_log eval
qr/export_link_secret "[^"]*key" must hold between 16 and 4096 bytes, it holds 6/



=== TEST 18: export_api without export_run_id
--- config
location /e {
    export_api zone=exports;
    export_source /tmp;
    export_store $TEST_NGINX_HTML_DIR/store;
}
--- must_die
--- error_log
"export_run_id" is not set for this location



=== TEST 19: export_api without export_source
--- config
location /e {
    export_api zone=exports;
    export_run_id $arg_run;
    export_store $TEST_NGINX_HTML_DIR/store;
}
--- must_die
--- error_log
"export_source" is not set for this location



=== TEST 20: export_api without export_store
--- config
location /e {
    export_api zone=exports;
    export_run_id $arg_run;
    export_source /tmp;
}
--- must_die
--- error_log
"export_store" is not set for this location



=== TEST 21: two export handlers in one location
--- config
location /e {
    export_api zone=exports;
    export_download zone=exports;
}
--- must_die
--- error_log
is duplicate, or another export handler is already set in this location



=== TEST 22: one zone with two different link secrets
--- user_files
>>> store/.keep
>>> key
ssssssssssssssssssssssssssssssss
>>> key2
tttttttttttttttttttttttttttttttt
--- config
location /a {
    export_download zone=exports;
    export_link_secret $TEST_NGINX_HTML_DIR/key;
}
location /b {
    export_download zone=exports;
    export_link_secret $TEST_NGINX_HTML_DIR/key2;
}
--- must_die
--- error_log
export zone "exports" is used with two different "export_link_secret" keys



=== TEST 23: export_max_columns of zero
--- config
location /e {
    export_max_columns 0;
}
--- must_die
--- error_log
"export_max_columns" must be more than 0



=== TEST 24: export_csv_bom takes on or off
--- config
location /e {
    export_csv_bom maybe;
}
--- must_die
--- error_log
invalid value "maybe" in "export_csv_bom" directive, it must be "on" or "off"



=== TEST 25: export_quota with a zone no export_quota_zone defines
--- config
location /e {
    export_quota zone=nowhere active=1;
}
--- must_die
--- error_log
unknown quota zone "nowhere": no "export_quota_zone" defines it



=== TEST 26: export_quota naming an export zone, not a quota zone
--- config
location /e {
    export_quota zone=exports active=1;
}
--- must_die
--- error_log
unknown quota zone "exports": no "export_quota_zone" defines it



=== TEST 27: export_quota with a bad rate
--- http_config
export_zone exports:1m;
export_quota_zone $remote_addr zone=q:1m;
--- config
location /e {
    export_quota zone=q rate=10/d;
}
--- must_die
--- error_log
invalid rate "rate=10/d": the form is rate=N/s, rate=N/m or rate=N/h



=== TEST 28: export_quota with active=0
--- http_config
export_zone exports:1m;
export_quota_zone $remote_addr zone=q:1m;
--- config
location /e {
    export_quota zone=q active=0;
}
--- must_die
--- error_log
invalid active "active=0": a number of exports greater than 0 is expected



=== TEST 29: export_quota with neither active nor rate
--- http_config
export_zone exports:1m;
export_quota_zone $remote_addr zone=q:1m;
--- config
location /e {
    export_quota zone=q;
}
--- must_die
--- error_log
"export_quota" must have "active" or "rate" parameter, or both



=== TEST 30: export_quota_zone without a size
--- http_config
export_zone exports:1m;
export_quota_zone $remote_addr zone=q;
--- config
--- must_die
--- error_log
invalid zone "zone=q": the form is zone=NAME:SIZE



=== TEST 31: export_quota_zone with an unknown parameter
--- http_config
export_zone exports:1m;
export_quota_zone $remote_addr zone=q:1m full=maybe;
--- config
--- must_die
--- error_log
invalid parameter "full=maybe"



=== TEST 32: export_quota_zone and export_zone cannot share a name
--- http_config
export_zone exports:1m;
export_quota_zone $remote_addr zone=exports:1m;
--- config
--- must_die
--- error_log
duplicate zone "exports"



=== TEST 33: quotas with keys, full=open, and several per location start
--- http_config
export_zone exports:1m;
export_quota_zone $remote_addr zone=by_addr:1m;
export_quota_zone $http_authorization zone=by_user:1m full=open;
--- config
location ~ ^/e/(?<run_id>[^/]+)$ {
    export_api zone=exports;
    export_run_id $run_id;
    export_source $TEST_NGINX_HTML_DIR/runs/$run_id;
    export_store $TEST_NGINX_HTML_DIR/store;
    export_thread_pool exports;
    export_quota zone=by_addr active=2 rate=10/m;
    export_quota zone=by_user rate=100/h;
}
--- request
GET /e/x
--- error_code: 400
--- no_error_log
[emerg]



=== TEST 34: export_api naming a quota zone, not an export zone
--- http_config
export_zone exports:1m;
export_quota_zone $remote_addr zone=q:1m;
--- config
location /e {
    export_api zone=q;
    export_run_id $arg_run;
    export_source /tmp;
    export_store $TEST_NGINX_HTML_DIR/store;
}
--- must_die
--- error_log
unknown export zone "q": no "export_zone" defines it



=== TEST 35: an unknown API style
--- config
location /e {
    export_api zone=exports style=soap;
    export_run_id $arg_run;
    export_source /tmp;
    export_store $TEST_NGINX_HTML_DIR/store;
}
--- must_die
--- error_log
invalid style "style=soap": it is one of vmware, arcgis, uniware, webadmit



=== TEST 36: style= on a handler that has no styles
--- config
location /e {
    export_download zone=exports style=arcgis;
}
--- must_die
--- error_log
invalid number of arguments in "export_download" directive



=== TEST 37: an ArcGIS submit location without export_job_uri
--- config
location = /arcgis/admin/healthCheck/reports/export {
    export_api zone=exports style=arcgis;
    export_source $TEST_NGINX_HTML_DIR/runs/$export_run_id;
    export_store $TEST_NGINX_HTML_DIR/store;
    export_thread_pool exports;
}
--- must_die
--- error_log
"export_job_uri" is not set for this location: "export_api ... style=arcgis" answers a submitted export with its jobsUrl



=== TEST 38: a WebAdMIT location without export_run_id
--- config
location /api/v1/exports {
    export_api zone=exports style=webadmit;
    export_source $TEST_NGINX_HTML_DIR/runs/$export_run_id;
    export_store $TEST_NGINX_HTML_DIR/store;
}
--- must_die
--- error_log
"export_run_id" is not set for this location



=== TEST 39: every style in one server starts
--- config
location = /arcgis/admin/healthCheck/reports/export {
    export_api zone=exports style=arcgis;
    export_source $TEST_NGINX_HTML_DIR/runs/$export_run_id;
    export_store $TEST_NGINX_HTML_DIR/store;
    export_thread_pool exports;
    export_job_uri /arcgis/admin/jobs/$export_job_id;
    export_download_uri /exports/file;
}
location ~ ^/arcgis/admin/jobs/(?<job>[^/]+)$ {
    export_api zone=exports style=arcgis;
    export_task_id $job;
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
location ~ ^/api/v1/exports/(?<e>[^/]+)/export_files/(?<f>[^/]+)$ {
    export_api zone=exports style=webadmit;
    export_run_id $e;
    export_task_id $f;
}
location = /exports/file {
    export_download zone=exports;
}
--- request
GET /api/v1/exports/12/export_files/1
--- error_code: 404
--- response_body
{"message":"Not Found"}
--- no_error_log
[emerg]


=== TEST 40: export_quota rate=0r/m is refused
--- http_config
export_zone exports:1m;
export_quota_zone $remote_addr zone=q:1m;
--- config
location /e {
    export_quota zone=q rate=0r/m;
}
--- must_die
--- error_log
invalid rate "rate=0r/m"



=== TEST 41: export_quota rate=5rr/m is refused
--- http_config
export_zone exports:1m;
export_quota_zone $remote_addr zone=q:1m;
--- config
location /e {
    export_quota zone=q rate=5rr/m;
}
--- must_die
--- error_log
invalid rate "rate=5rr/m"



=== TEST 42: export_quota rate=r/s is refused
--- http_config
export_zone exports:1m;
export_quota_zone $remote_addr zone=q:1m;
--- config
location /e {
    export_quota zone=q rate=r/s;
}
--- must_die
--- error_log
invalid rate "rate=r/s"



=== TEST 43: export_disable_symlinks with each value and from= starts
--- config
location /e {
    export_disable_symlinks if_not_owner from=$document_root;
    location /e/off {
        export_disable_symlinks off;
    }
    location /e/on {
        export_disable_symlinks on from=/var/lib;
    }
}
--- request
GET /e
--- error_code: 404
--- no_error_log
[emerg]



=== TEST 44: export_disable_symlinks with an unknown value
--- config
location /e {
    export_disable_symlinks yes;
}
--- must_die
--- error_log
invalid value "yes" in "export_disable_symlinks": it must be "off", "on" or "if_not_owner"



=== TEST 45: export_disable_symlinks with a second parameter that is not from=
--- config
location /e {
    export_disable_symlinks on /var/lib;
}
--- must_die
--- error_log
invalid parameter "/var/lib" in "export_disable_symlinks": it must be "from=part"



=== TEST 46: export_disable_symlinks off with from=
--- config
location /e {
    export_disable_symlinks off from=/var/lib;
}
--- must_die
--- error_log
"from=" cannot be used with "off" in "export_disable_symlinks"



=== TEST 47: export_disable_symlinks twice at one level
--- config
location /e {
    export_disable_symlinks on;
    export_disable_symlinks off;
}
--- must_die
--- error_log
"export_disable_symlinks" directive is duplicate



=== TEST 48: export_node, export_lease and export_store_thread_pool that are right
--- main_config
thread_pool exports threads=1;
thread_pool store threads=2;
--- http_config
export_zone exports:1m;
export_node node-a.example_1;
export_lease 15s;
export_store_thread_pool store;
--- config
location ~ ^/e/(?<run_id>[^/]+)$ {
    export_api zone=exports;
    export_run_id $run_id;
    export_source $TEST_NGINX_HTML_DIR/runs/$run_id;
    export_store $TEST_NGINX_HTML_DIR/store;
    export_thread_pool exports;
}
location = /status {
    export_status;
}
--- request
GET /status
--- error_code: 200
--- response_body_like: "node":"node-a\.example_1"
--- no_error_log
[emerg]



=== TEST 49: export_node with a character a file name must not have
--- http_config
export_zone exports:1m;
export_node node/a;
--- config
--- must_die
--- error_log
invalid node name "node/a": 1 to 64 letters, digits, ".", "-" or "_"



=== TEST 50: export_lease below 3 seconds
--- http_config
export_zone exports:1m;
export_lease 2s;
--- config
--- must_die
--- error_log
"export_lease" directive must be at least 3s: a heartbeat comes every second



=== TEST 51: export_store_thread_pool naming a pool that is not defined
--- http_config
export_zone exports:1m;
export_store_thread_pool nopool;
--- config
location ~ ^/e/(?<run_id>[^/]+)$ {
    export_api zone=exports;
    export_run_id $run_id;
    export_source $TEST_NGINX_HTML_DIR/runs/$run_id;
    export_store $TEST_NGINX_HTML_DIR/store;
    export_thread_pool exports;
}
--- must_die
--- error_log
unknown thread pool "nopool"



=== TEST 52: export_parallel_deflate on in http
--- http_config
export_zone exports:1m;
export_parallel_deflate on;
--- config
location = /status {
    export_status;
}
--- request
GET /status
--- error_code: 200
--- no_error_log
[emerg]



=== TEST 53: export_parallel_deflate is a setting of the node, not of a location
--- http_config
export_zone exports:1m;
--- config
location = /x {
    export_parallel_deflate on;
}
--- must_die
--- error_log
"export_parallel_deflate" directive is not allowed here



=== TEST 54: export_parallel_deflate takes on or off
--- http_config
export_zone exports:1m;
export_parallel_deflate yes;
--- config
--- must_die
--- error_log
invalid value "yes" in "export_parallel_deflate" directive, it must be "on" or "off"
