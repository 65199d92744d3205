/* test_redact.c — what a logged command line keeps of its secrets: nothing
 * (the options, user names, hosts and paths stay readable). */
#include "check.h"
#include "redact.h"

#include <string.h>

static void expect(const char *prev, const char *arg, const char *want)
{
    char out[256];
    const char *got = redact_arg(arg, strlen(arg), prev, out, sizeof out);
    CHECK(strcmp(got, want) == 0);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "  %s %s -> %s, want %s\n", prev ? prev : "", arg, got, want);
}

int main(void)
{
    /* options whose argument is the secret */
    expect("-pass", "hunter2", REDACTED);
    expect("-passin", "pass:hunter2", REDACTED);
    expect("-psk", "0102abcdef", REDACTED);
    expect("--password", "hunter2", REDACTED);
    expect("-psk_identity", "client1", "client1");
    expect("-connect", "example.com:443", "example.com:443");
    /* --option=secret */
    expect(NULL, "--password=hunter2", "--password=" REDACTED);
    expect(NULL, "--proxy-pass=hunter2", "--proxy-pass=" REDACTED);
    /* curl's user:password */
    expect("-u", "alice:hunter2", "alice:" REDACTED);
    expect("--user", "alice", "alice");
    /* URLs */
    expect(NULL, "https://alice:hunter2@example.com/x?y=1", "https://alice:" REDACTED "@example.com/x?y=1");
    expect(NULL, "https://alice@example.com/", "https://alice@example.com/");
    expect(NULL, "https://example.com/a@b", "https://example.com/a@b");
    expect(NULL, "ftp://u:p@h", "ftp://u:" REDACTED "@h");
    /* NAME=value */
    expect(NULL, "password=hunter2", "password=" REDACTED);
    expect(NULL, "ssl_key=/etc/ssl/k.pem", "ssl_key=" REDACTED);
    expect(NULL, "user=alice,Secret=x,host=h", "user=alice,Secret=" REDACTED ",host=h");
    expect(NULL, "https://h/?token=abc&q=1", "https://h/?token=" REDACTED "&q=1");
    expect(NULL, "mode=fast", "mode=fast");
    /* OpenSSL's pass phrase argument anywhere */
    expect(NULL, "pass:hunter2", "pass:" REDACTED);
    expect(NULL, "env:VAR", "env:VAR");
    /* cut to the room, never a secret byte */
    char small[8];
    redact_arg("password=hunter2", 16, NULL, small, sizeof small);
    CHECK(strlen(small) == 7 && strncmp(small, "password=", 7) == 0);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("test_redact: all passed\n");
    return failures != 0;
}
