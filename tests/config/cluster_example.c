/*
 * cluster_example FILE: FILE (one of config/examples) loads with
 * fp__cluster_load and its summary prints.  The examples name their secret
 * as ~/.fastpool/secret: this program points HOME at a fresh folder holding
 * one (mode 0600), so the check needs nothing from the machine.  Exit 0
 * when it loads, 1 (with the error) when not.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cluster.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: cluster_example FILE\n");
        return 2;
    }
    char home[] = "/tmp/fp-cluster-example-XXXXXX";
    if (mkdtemp(home) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char dir[128], secret[160];
    snprintf(dir, sizeof(dir), "%s/.fastpool", home);
    snprintf(secret, sizeof(secret), "%s/secret", dir);
    int fd = -1;
    if (mkdir(dir, 0700) != 0 ||
        (fd = open(secret, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
        write(fd, "0123456789abcdef0123456789abcdef\n", 33) != 33) {
        perror(secret);
        return 1;
    }
    close(fd);
    setenv("HOME", home, 1);

    fp__cluster_t *cl = NULL;
    fp_error_t err;
    fp_status_t st = fp__cluster_load(argv[1], &cl, &err);
    int rc = 0;
    if (st != FP_OK) {
        fprintf(stderr, "%s: %s\n", fp_status_name(st), err.message);
        rc = 1;
    } else {
        fp__cluster_describe(cl, stdout);
        if (cl->secret_file == NULL || strcmp(cl->secret_file, secret) != 0) {
            fprintf(stderr, "secret_file is %s, want %s (~ expanded)\n",
                    cl->secret_file ? cl->secret_file : "(none)", secret);
            rc = 1;
        }
        fp__cluster_free(cl);
    }
    unlink(secret);
    rmdir(dir);
    rmdir(home);
    return rc;
}
