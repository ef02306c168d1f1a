/* Counts a process's heap allocations, for bench/run.sh's allocations per
 * request: preloaded (LD_PRELOAD) into the agent, nginx or the hyper
 * ceiling, it adds one to a counter for every malloc, calloc, realloc and
 * aligned allocation, then calls glibc's own. The counter is the first 8
 * bytes of the file named by ALLOC_COUNT_FILE, mapped shared, so the bench
 * reads it at any moment without stopping the process.
 *
 *   cc -O2 -shared -fPIC -o alloc_count.so bench/alloc_count.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static uint64_t unmapped;
static uint64_t *counter = &unmapped;

__attribute__((constructor)) static void map_counter(void) {
    const char *path = getenv("ALLOC_COUNT_FILE");
    if (!path) return;
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) return;
    if (ftruncate(fd, 4096) == 0) {
        void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (page != MAP_FAILED) counter = page;
    }
    close(fd);
}

static inline void count(void) { __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }

void *malloc(size_t size) { count(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(); return __libc_realloc(p, size); }
void *memalign(size_t align, size_t size) { count(); return __libc_memalign(align, size); }
void *aligned_alloc(size_t align, size_t size) { count(); return __libc_memalign(align, size); }
int posix_memalign(void **out, size_t align, size_t size) {
    count();
    void *p = __libc_memalign(align, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
