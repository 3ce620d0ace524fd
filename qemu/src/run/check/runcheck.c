/* The end-to-end program of `clonekit-qemu run` (qemu/src/run/check.rs): built with gcc
 * (static and dynamic) for each arch, run in the guest, its output compared byte for byte
 * with what check.rs computes. Output goes through write(2) only, so no stdio buffering
 * decides what a crash loses. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void put(int fd, const void *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            _exit(99);
        p = (const char *)p + w;
        n -= (size_t)w;
    }
}

static void text(int fd, const char *s) { put(fd, s, strlen(s)); }

/* n bytes of a linear congruential sequence (the same in check.rs). */
static void pattern(int fd, unsigned seed, size_t n) {
    unsigned char buf[4096];
    while (n > 0) {
        size_t k = n < sizeof buf ? n : sizeof buf;
        for (size_t i = 0; i < k; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (unsigned char)(seed >> 16);
        }
        put(fd, buf, k);
        n -= k;
    }
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 64;
    const char *mode = argv[1];
    int n = atoi(argv[2]);
    if (strcmp(mode, "echo") == 0) {
        /* stdout: the arguments, the CK_* variables, every byte value, a long pattern;
         * stderr: a line, another pattern, and no final newline. Then exit n. */
        for (int i = 0; i < argc; i++) {
            text(1, "arg:");
            text(1, argv[i]);
            text(1, "\n");
        }
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "CK_", 3) == 0) {
                text(1, "env:");
                text(1, *e);
                text(1, "\n");
            }
        }
        unsigned char all[256];
        for (int i = 0; i < 256; i++)
            all[i] = (unsigned char)i;
        put(1, all, sizeof all);
        pattern(1, 1, 200000);
        text(2, "to stderr\n");
        pattern(2, 2, 50000);
        text(2, "end without a newline");
        return n;
    }
    if (strcmp(mode, "signal") == 0) {
        text(1, "before the signal");
        text(2, "dying of signal ");
        text(2, argv[2]);
        signal(n, SIG_DFL);
        raise(n);
        return 98;
    }
    if (strcmp(mode, "sleep") == 0) {
        text(1, "sleeping\n");
        sleep((unsigned)n);
        return 0;
    }
    return 64;
}
