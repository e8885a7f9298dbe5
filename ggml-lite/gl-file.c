/*
 * gl-file.c — atomic file output: a file is written under a temporary name in its target's
 * folder and renamed over the target only when complete and flushed to the disk, so that an
 * interrupted or failed write never leaves a truncated target and never touches a file that
 * was already there (the GGUF writer and the .npy writer use it; docs/FORMAT.md, "Limits").
 */
#include "gl-impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#if defined(GL_NO_STDIO) /* no file system (see gl-gguf.c): nothing to write atomically */
bool gl_tmp_path(const char *target, char *buf, size_t size) {
    (void)target;
    (void)buf;
    (void)size;
    return false;
}
uint64_t gl_free_space(const char *path) {
    (void)path;
    return UINT64_MAX;
}
gl_status gl_check_free_space(const char *path, uint64_t need, gl_error *err) {
    (void)path;
    (void)need;
    (void)err;
    return GL_OK;
}
gl_status gl_commit_file(int fd, const char *tmp, const char *target, gl_error *err) {
    (void)fd;
    (void)tmp;
    return gl_error_set(err, GL_ERR_UNSUPPORTED, "cannot write %s: built without file access (GL_NO_STDIO)",
                        target ? target : "(null)");
}
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

bool gl_tmp_path(const char *target, char *buf, size_t size) {
    if (!target || !buf || size == 0) return false;
    struct stat sb; /* a device or a pipe (/dev/null, a fifo) is written directly: never renamed over */
    if (stat(target, &sb) == 0 && !S_ISREG(sb.st_mode)) return false;
    const int n = snprintf(buf, size, "%s.edgelm-tmp-%ld", target, (long)getpid());
    return n > 0 && (size_t)n < size;
}

/* The folder of path into buf ("." when it has none). */
static void file_dir_of(const char *path, char *buf, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(buf, size, ".");
    } else if (slash == path) {
        snprintf(buf, size, "/");
    } else {
        snprintf(buf, size, "%.*s", (int)(slash - path), path);
    }
}

uint64_t gl_free_space(const char *path) {
    char dir[4096];
    file_dir_of(path, dir, sizeof dir);
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0) return UINT64_MAX; /* unknown: the writes will tell */
    return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
}

gl_status gl_check_free_space(const char *path, uint64_t need, gl_error *err) {
    const uint64_t avail = gl_free_space(path);
    if (avail >= need) return GL_OK;
    char dir[4096];
    file_dir_of(path, dir, sizeof dir);
    return gl_error_set(err, GL_ERR_IO,
                        "not enough free space in %s for %s: it needs %.1f MB, %.1f MB are free", dir, path,
                        (double)need / 1e6, (double)avail / 1e6);
}

gl_status gl_commit_file(int fd, const char *tmp, const char *target, gl_error *err) {
    gl_status st = GL_OK;
    if (fsync(fd) != 0 && errno != EINVAL)
        st = gl_error_set(err, GL_ERR_IO, "cannot flush %s to the disk: %s", tmp, strerror(errno));
    if (close(fd) != 0 && st == GL_OK) st = gl_error_set(err, GL_ERR_IO, "cannot close %s: %s", tmp, strerror(errno));
    if (st == GL_OK && rename(tmp, target) != 0)
        st = gl_error_set(err, GL_ERR_IO, "cannot rename %s to %s: %s", tmp, target, strerror(errno));
    if (st != GL_OK) {
        unlink(tmp);
        return st;
    }
    /* the rename itself reaches the disk with the folder's metadata */
    char dir[4096];
    file_dir_of(target, dir, sizeof dir);
    const int dfd = open(dir, O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return GL_OK;
}
#endif /* GL_NO_STDIO */
