// aofcache.so - an LD_PRELOAD shim for redis-server that emulates losing the OS page cache.
//
// Writes to the append-only file (a path containing ".aof" but not "manifest") are held in
// this process's memory instead of reaching the kernel, and are written out only when Redis
// calls fsync or fdatasync on that file (or closes it). A kill -9 of redis-server therefore
// drops exactly what Redis had written but not yet fsynced: what a power loss or kernel crash
// drops from the page cache. It does not model torn or reordered writes inside a file, nor a
// disk cache that ignores flushes. Used by deploy/bench/faults (redis-powerloss-*).
//
// Build: cc -shared -fPIC -O2 -o aofcache.so aofcache.c -ldl -lpthread
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FDS 4096

struct held {
    char *data;
    size_t len;
    size_t cap;
    int tracked;
};

static struct held g_held[MAX_FDS];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_close)(int);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);

__attribute__((constructor)) static void init(void) {
    if (real_write)
        return;
    real_write = dlsym(RTLD_NEXT, "write");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_close = dlsym(RTLD_NEXT, "close");
    real_open = dlsym(RTLD_NEXT, "open");
    real_open64 = dlsym(RTLD_NEXT, "open64");
}

static int is_aof(const char *path) {
    return path && strstr(path, ".aof") && !strstr(path, "manifest");
}

static void track(int fd, const char *path) {
    if (fd < 0 || fd >= MAX_FDS)
        return;
    pthread_mutex_lock(&g_lock);
    g_held[fd].len = 0;
    g_held[fd].tracked = is_aof(path);
    pthread_mutex_unlock(&g_lock);
}

// Writes what is held for fd to the kernel; the caller holds g_lock.
static int release(int fd) {
    struct held *h = &g_held[fd];
    size_t off = 0;
    while (off < h->len) {
        ssize_t n = real_write(fd, h->data + off, h->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)n;
    }
    h->len = 0;
    return 0;
}

int open(const char *path, int flags, ...) {
    init();
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    int fd = real_open(path, flags, mode);
    track(fd, path);
    return fd;
}

int open64(const char *path, int flags, ...) {
    init();
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    int fd = real_open64(path, flags, mode);
    track(fd, path);
    return fd;
}

ssize_t write(int fd, const void *buf, size_t count) {
    init();
    if (fd < 0 || fd >= MAX_FDS || !g_held[fd].tracked)
        return real_write(fd, buf, count);
    pthread_mutex_lock(&g_lock);
    struct held *h = &g_held[fd];
    if (h->len + count > h->cap) {
        size_t cap = h->cap ? h->cap : 1 << 20;
        while (cap < h->len + count)
            cap *= 2;
        char *p = realloc(h->data, cap);
        if (!p) {
            pthread_mutex_unlock(&g_lock);
            errno = ENOMEM;
            return -1;
        }
        h->data = p;
        h->cap = cap;
    }
    memcpy(h->data + h->len, buf, count);
    h->len += count;
    pthread_mutex_unlock(&g_lock);
    return (ssize_t)count;
}

static int sync_fd(int fd, int (*real)(int)) {
    init();
    if (fd >= 0 && fd < MAX_FDS && g_held[fd].tracked) {
        pthread_mutex_lock(&g_lock);
        int r = release(fd);
        pthread_mutex_unlock(&g_lock);
        if (r < 0)
            return -1;
    }
    return real(fd);
}

int fsync(int fd) {
    init();
    return sync_fd(fd, real_fsync);
}
int fdatasync(int fd) {
    init();
    return sync_fd(fd, real_fdatasync);
}

int close(int fd) {
    init();
    if (fd >= 0 && fd < MAX_FDS && g_held[fd].tracked) {
        // Closing does not make data durable, but what was written stays in the page cache
        // and later fsyncs of the file persist it: write it out (under-counts a loss, never
        // over-counts).
        pthread_mutex_lock(&g_lock);
        release(fd);
        g_held[fd].tracked = 0;
        pthread_mutex_unlock(&g_lock);
    }
    return real_close(fd);
}
