# `nginx -t` itself, as an operator runs it: a good configuration passes,
# a bad one fails with exit status 1 and a message naming the directive.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Path qw(make_path remove_tree);
use Test::More;

my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my @modules = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
my $root = abs_path('t') . '/servroot_nginx_t';

remove_tree($root);
make_path("$root/conf", "$root/logs", "$root/store", "$root/runs");

sub check {
    my ($what, $location, $status, $pattern) = @_;

    my $load = join '', map { "load_module $_;\n" } @modules;
    open my $fh, '>', "$root/conf/nginx.conf" or die $!;
    print $fh <<"CONF";
${load}error_log logs/error.log;
pid logs/nginx.pid;
thread_pool exports threads=1;
events { }
http {
    export_zone exports:1m;
    server {
        listen 127.0.0.1:1988;
        location ~ ^/x/(?<run_id>[^/]+)\$ {
            export_api zone=exports;
            export_run_id \$run_id;
            export_source $root/runs/\$run_id;
            export_thread_pool exports;
            $location
        }
    }
}
CONF
    close $fh;

    my $out = `$nginx -t -p $root/ -c conf/nginx.conf 2>&1`;
    is($? >> 8, $status, "$what: nginx -t exits $status");
    like($out, $pattern, "$what: nginx -t says so") or diag $out;
}

SKIP: {
    skip 'the worker user check needs a root master', 2 if $> != 0;

    # workers run as nobody: a root-only store is refused at -t
    chmod 0755, "$root/store";
    check('a store only root can write', "export_store $root/store;", 1,
          qr/export_store "\Q$root\E\/store" is not writable by the worker user "nobody"/);
}

chmod 0777, "$root/store";

# even root cannot write a read-only file system
SKIP: {
    make_path("$root/ro");
    system("mount -t tmpfs -o ro,size=64k tmpfs $root/ro 2>/dev/null") == 0
        or skip 'cannot mount a read-only tmpfs here', 2;

    check('a store on a read-only file system', "export_store $root/ro;", 1,
          qr/export_store "\Q$root\E\/ro" is not writable \(30: Read-only file system\)/);

    system("umount $root/ro");
}

check("a good configuration", "export_store $root/store;", 0,
      qr/test is successful/);

check('a store that does not exist', "export_store $root/nope;", 1,
      qr/\[emerg\] \d+#\d+: export_store "\Q$root\E\/nope" cannot be used: stat\(\) failed .* in \Q$root\E\/conf\/nginx\.conf:\d+\n.*test failed/s);

check('a bad time', "export_store $root/store; export_ttl 1x;", 1,
      qr/\[emerg\] \d+#\d+: "export_ttl" directive invalid value .*test failed/s);

check('a bad level', "export_store $root/store; export_compression_level 10;",
      1, qr/"export_compression_level" directive must be between 0 .*test failed/s);

done_testing();
