package ExportBlocks;

# Field-by-field JSON checks for Test::Nginx data blocks, through the
# real module's add_response_body_check() hook.  A block says what it
# expects in a "--- json eval" section: a hash of field => expectation,
# or an array of such hashes, one per request of the block.
#
#   string      the field equals it
#   qr//        the field matches it
#   undef       the field is null or absent
#   '!'         the field is absent
#   CODE        called with the value, returns true when right
#
# The key _error => 'CODE' checks the whole Error object shape of the
# API (every field the contract asks for, a UUID referenceToken) and that
# error.log holds the same referenceToken.

use strict;
use warnings;

use JSON::PP ();
use Test::More;
use Test::Nginx::Socket ();

our $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
our $TIME = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;

    my $want = $block->json;
    return unless defined $want;

    $want = $want->[$req_idx] if ref $want eq 'ARRAY';
    return unless defined $want;

    my $name = $block->name . " - json (req $req_idx)";

    if ($dry_run) {
        SKIP: { skip "$name: dry run", 1 }
        return;
    }

    my $doc = eval { JSON::PP->new->decode($body) };
    if (!ok(ref $doc eq 'HASH', "$name: body is a JSON object")) {
        diag "body: $body";
        return;
    }

    for my $field (sort keys %$want) {
        my $exp = $want->{$field};

        if ($field eq '_error') {
            check_error($doc, $exp, $name);
            next;
        }

        my $got = $doc->{$field};

        if (!defined $exp) {
            ok(!defined $got, "$name: $field is null or absent");
        } elsif (!ref $exp && $exp eq '!') {
            ok(!exists $doc->{$field}, "$name: $field is absent");
        } elsif (ref $exp eq 'Regexp') {
            like($got // '', $exp, "$name: $field");
        } elsif (ref $exp eq 'CODE') {
            ok($exp->($got), "$name: $field") or diag explain $got;
        } else {
            is($got, $exp, "$name: $field");
        }
    }
});

sub check_error {
    my ($e, $code, $name) = @_;

    is($e->{errorCode}, $code, "$name: errorCode");
    ok(defined $e->{errorType} && !ref $e->{errorType}, "$name: errorType");
    ok(ref $e->{arguments} eq 'ARRAY', "$name: arguments is an array");
    ok(ref $e->{context} eq 'HASH', "$name: context is an object");
    ok(length($e->{message} // ''), "$name: message");
    ok(length($e->{remediationMessage} // ''), "$name: remediationMessage");
    like($e->{referenceToken} // '', $UUID, "$name: referenceToken");

    # the same token stands in error.log beside the cause
    my $log = Test::Nginx::Socket::server_root() . '/logs/error.log';
    my $found = 0;
    for (1 .. 20) {
        if (open my $fh, '<', $log) {
            local $/;
            my $text = <$fh>;
            if (index($text, "referenceToken: $e->{referenceToken}") >= 0
                && $text =~ /\Q$code\E: [^\n]*\Q$e->{referenceToken}\E/)
            {
                $found = 1;
                last;
            }
        }
        select undef, undef, undef, 0.05;
    }
    ok($found, "$name: error.log has the cause and the referenceToken");
}

1;
