// ref: PKWARE APPNOTE.TXT 6.3 (4.3.7 local header, 4.3.12 central directory header,
// 4.3.14-16 ZIP64 end records and end of central directory, 4.5.3 ZIP64 extra field).
// torch.save writes the archive with miniz (caffe2/serialize/inline_container.cc): stored
// entries, data aligned to 64 bytes by padding in the local header's extra field (which is why
// the data offset is taken from the local header, not computed from the central one).
#include "zipread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"

#define EOCD_SIG 0x06054b50u
#define EOCD_LEN 22
#define Z64_LOC_SIG 0x07064b50u
#define Z64_LOC_LEN 20
#define Z64_EOCD_SIG 0x06064b50u
#define Z64_EOCD_LEN 56
#define CDH_SIG 0x02014b50u
#define CDH_LEN 46
#define LFH_SIG 0x04034b50u
#define LFH_LEN 30
#define MAX_COMMENT 0xFFFF

static int zfail(char *err, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

// [off, off + len) lies inside [0, limit) (written so nothing can overflow).
static int in_bounds(uint64_t off, uint64_t len, uint64_t limit) {
    return off <= limit && len <= limit - off;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const ZipEntry *)a)->name, ((const ZipEntry *)b)->name);
}

// Replaces the 32-bit fields that hold 0xFFFFFFFF (0xFFFF for the disk) by their 64-bit values
// from the ZIP64 extended information extra field, which lists them in this fixed order.
static int read_zip64_extra(const uint8_t *x, uint32_t xlen, uint64_t *usize, uint64_t *csize,
                            uint64_t *lho, uint32_t *disk, const char *name, char *err, size_t len) {
    uint32_t q = 0;
    while (xlen - q >= 4) {
        uint16_t id = rd16(x + q), sz = rd16(x + q + 2);
        if (sz > xlen - q - 4)
            return zfail(err, len, "entry %.200s: extra field overruns its record", name);
        if (id == 1) {
            const uint8_t *f = x + q + 4;
            uint32_t left = sz;
            uint64_t *wide[3] = {usize, csize, lho};
            for (int i = 0; i < 3; i++) {
                if (*wide[i] != 0xFFFFFFFFu) continue;
                if (left < 8) break;
                *wide[i] = rd64(f);
                f += 8, left -= 8;
            }
            if (*disk == 0xFFFF && left >= 4) *disk = rd32(f);
            break;
        }
        q += 4u + sz;
    }
    if (*usize == 0xFFFFFFFFu || *csize == 0xFFFFFFFFu || *lho == 0xFFFFFFFFu || *disk == 0xFFFF)
        return zfail(err, len, "entry %.200s: ZIP64 extra field missing or too short", name);
    return 0;
}

static int read_directory(ZipArchive *z, char *err, size_t len) {
    const uint8_t *d = z->data;
    uint64_t n = z->size;
    // The end-of-central-directory record: the last one whose comment ends the file exactly
    // (a signature met inside data or a truncated file fails that test).
    uint64_t lo = n > EOCD_LEN + MAX_COMMENT ? n - EOCD_LEN - MAX_COMMENT : 0, eocd = UINT64_MAX;
    for (uint64_t p = n - EOCD_LEN + 1; p-- > lo;)
        if (rd32(d + p) == EOCD_SIG && p + EOCD_LEN + rd16(d + p + 20) == n) {
            eocd = p;
            break;
        }
    if (eocd == UINT64_MAX)
        return zfail(err, len, "not a zip archive, or truncated (no end-of-central-directory record)");
    uint64_t disk = rd16(d + eocd + 4), cd_disk = rd16(d + eocd + 6);
    uint64_t disk_entries = rd16(d + eocd + 8), entries = rd16(d + eocd + 10);
    uint64_t cd_size = rd32(d + eocd + 12), cd_off = rd32(d + eocd + 16);
    uint64_t dir_end = eocd;  // the central directory ends where the end records begin

    if (eocd >= Z64_LOC_LEN && rd32(d + eocd - Z64_LOC_LEN) == Z64_LOC_SIG) {
        const uint8_t *loc = d + eocd - Z64_LOC_LEN;
        uint64_t rec = rd64(loc + 8);
        if (rd32(loc + 4) != 0 || rd32(loc + 16) != 1)
            return zfail(err, len, "multi-disk zip archives are not supported");
        if (!in_bounds(rec, Z64_EOCD_LEN, eocd - Z64_LOC_LEN))
            return zfail(err, len, "ZIP64 end-of-central-directory offset %llu lies outside the file",
                         (unsigned long long)rec);
        const uint8_t *r = d + rec;
        uint64_t rec_size = rd64(r + 4);
        if (rd32(r) != Z64_EOCD_SIG || rec_size < Z64_EOCD_LEN - 12 ||
            !in_bounds(rec + 12, rec_size, eocd - Z64_LOC_LEN))
            return zfail(err, len, "corrupt ZIP64 end-of-central-directory record at offset %llu",
                         (unsigned long long)rec);
        uint64_t classic[6] = {disk, cd_disk, disk_entries, entries, cd_size, cd_off};
        disk = rd32(r + 16), cd_disk = rd32(r + 20);
        disk_entries = rd64(r + 24), entries = rd64(r + 32);
        cd_size = rd64(r + 40), cd_off = rd64(r + 48);
        dir_end = rec;
        // Writers (miniz in torch, Python's zipfile) put min(value, 0xFFFF..) in the classic
        // record: each field must be that escape or the ZIP64 value, else one is corrupt.
        uint64_t wide[6] = {disk, cd_disk, disk_entries, entries, cd_size, cd_off};
        static const char *const field[6] = {"disk number", "directory disk", "entries on disk",
                                             "entries", "directory size", "directory offset"};
        for (int i = 0; i < 6; i++) {
            uint64_t escape = i < 4 ? 0xFFFF : 0xFFFFFFFFu;
            if (classic[i] != escape && classic[i] != wide[i])
                return zfail(err, len, "end-of-central-directory %s %llu disagrees with the ZIP64 record's %llu",
                             field[i], (unsigned long long)classic[i], (unsigned long long)wide[i]);
        }
    }
    if (disk != 0 || cd_disk != 0 || disk_entries != entries)
        return zfail(err, len, "multi-disk zip archives are not supported (disk %llu, entries %llu of %llu)",
                     (unsigned long long)disk, (unsigned long long)disk_entries,
                     (unsigned long long)entries);
    if (!in_bounds(cd_off, cd_size, dir_end) || cd_off + cd_size != dir_end)
        return zfail(err, len,
                     "corrupt central directory location (offset %llu + size %llu should end at %llu)",
                     (unsigned long long)cd_off, (unsigned long long)cd_size,
                     (unsigned long long)dir_end);
    if (entries == 0) return zfail(err, len, "zip archive has no entries");
    if (entries > cd_size / CDH_LEN)
        return zfail(err, len, "central directory of %llu bytes cannot hold %llu entries",
                     (unsigned long long)cd_size, (unsigned long long)entries);

    z->entries = xcalloc((size_t)entries, sizeof *z->entries);
    uint64_t p = cd_off, end = cd_off + cd_size;
    for (uint64_t i = 0; i < entries; i++) {
        if (!in_bounds(p, CDH_LEN, end) || rd32(d + p) != CDH_SIG)
            return zfail(err, len, "central directory entry %llu (offset %llu) is corrupt",
                         (unsigned long long)i, (unsigned long long)p);
        const uint8_t *h = d + p;
        uint16_t flags = rd16(h + 8), method = rd16(h + 10);
        uint64_t csize = rd32(h + 20), usize = rd32(h + 24), lho = rd32(h + 42);
        uint32_t nlen = rd16(h + 28), xlen = rd16(h + 30), clen = rd16(h + 32), dstart = rd16(h + 34);
        if (!in_bounds(p + CDH_LEN, (uint64_t)nlen + xlen + clen, end))
            return zfail(err, len, "central directory entry %llu overruns the directory",
                         (unsigned long long)i);
        const uint8_t *name = h + CDH_LEN;
        if (nlen == 0 || memchr(name, 0, nlen))
            return zfail(err, len, "central directory entry %llu has an empty name or a NUL in it",
                         (unsigned long long)i);
        ZipEntry *e = &z->entries[z->count++];
        e->name = xmalloc(nlen + 1u);
        memcpy(e->name, name, nlen);
        e->name[nlen] = 0;
        if ((csize == 0xFFFFFFFFu || usize == 0xFFFFFFFFu || lho == 0xFFFFFFFFu || dstart == 0xFFFF) &&
            read_zip64_extra(name + nlen, xlen, &usize, &csize, &lho, &dstart, e->name, err, len))
            return -1;
        if (dstart != 0) return zfail(err, len, "entry %.200s lies on another disk", e->name);
        // The local header must lie before the central directory and name the same entry.
        if (!in_bounds(lho, LFH_LEN, cd_off) || rd32(d + lho) != LFH_SIG)
            return zfail(err, len, "entry %.200s: no local header at offset %llu", e->name,
                         (unsigned long long)lho);
        uint32_t lnlen = rd16(d + lho + 26), lxlen = rd16(d + lho + 28);
        if (lnlen != nlen || !in_bounds(lho + LFH_LEN, lnlen, cd_off) ||
            memcmp(d + lho + LFH_LEN, name, nlen) != 0)
            return zfail(err, len, "entry %.200s: its local header names another entry", e->name);
        uint64_t data = lho + LFH_LEN + lnlen + lxlen;
        if (!in_bounds(data, csize, cd_off))
            return zfail(err, len,
                         "entry %.200s: data (offset %llu, %llu bytes) runs past the central directory",
                         e->name, (unsigned long long)data, (unsigned long long)csize);
        e->offset = data, e->size = csize, e->usize = usize;
        e->method = method, e->flags = flags;
        p += CDH_LEN + (uint64_t)nlen + xlen + clen;
    }
    if (p != end)
        return zfail(err, len, "central directory has %llu bytes after its %llu entries",
                     (unsigned long long)(end - p), (unsigned long long)entries);
    qsort(z->entries, z->count, sizeof *z->entries, by_name);
    for (size_t i = 1; i < z->count; i++)
        if (strcmp(z->entries[i - 1].name, z->entries[i].name) == 0)
            return zfail(err, len, "duplicate zip entry %.200s", z->entries[i].name);
    return 0;
}

int zip_open(ZipArchive *z, const char *path, char *err, size_t len) {
    memset(z, 0, sizeof *z);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return zfail(err, len, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return zfail(err, len, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return zfail(err, len, "not a regular file");
    }
    if (st.st_size < EOCD_LEN) {
        close(fd);
        return zfail(err, len, "%s (%lld bytes), not a zip archive",
                     st.st_size ? "too short" : "empty file", (long long)st.st_size);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);  // the mapping keeps the file
    if (m == MAP_FAILED) return zfail(err, len, "cannot map %lld bytes: %s", (long long)st.st_size, strerror(e));
    z->data = m;
    z->size = (size_t)st.st_size;
    if (read_directory(z, err, len) != 0) {
        zip_close(z);
        return -1;
    }
    return 0;
}

const ZipEntry *zip_find(const ZipArchive *z, const char *name) {
    ZipEntry key = {.name = (char *)name};
    return z->count ? bsearch(&key, z->entries, z->count, sizeof key, by_name) : NULL;
}

const uint8_t *zip_stored_data(const ZipArchive *z, const ZipEntry *e, char *err, size_t len) {
    if (e->flags & 1) {
        zfail(err, len, "entry %.200s is encrypted", e->name);
        return NULL;
    }
    if (e->method != 0) {
        zfail(err, len, "entry %.200s is compressed (method %u); torch.save stores entries uncompressed",
              e->name, e->method);
        return NULL;
    }
    if (e->size != e->usize) {
        zfail(err, len, "entry %.200s is stored but its sizes differ (%llu, %llu)", e->name,
              (unsigned long long)e->size, (unsigned long long)e->usize);
        return NULL;
    }
    return z->data + e->offset;
}

void zip_close(ZipArchive *z) {
    for (size_t i = 0; i < z->count; i++) free(z->entries[i].name);
    free(z->entries);
    if (z->data) munmap((void *)z->data, z->size);
    memset(z, 0, sizeof *z);
}
