// Bad checkpoints, under AddressSanitizer and UndefinedBehaviorSanitizer (tests/tests.mk builds
// tests/fault/ with both over the whole core, and LeakSanitizer checks for leaks at exit).
// Every bad input must give -1, an empty TensorMap, and one line naming the file and the
// problem; none may crash, read out of bounds or leak (memory, descriptors, mappings).
//   A. files that are not checkpoints (missing, empty, short, text, a directory)
//   B. the tiny fixture truncated at many offsets, with and without its directory kept
//   C. corrupted central-directory, end-record and local-header fields
//   D. the fixture's pickle patched in place (opcodes, globals, memo, stack, storages)
//   E. random corruption sweeps over the pickle and the central directory
//   F. hand-built pickles and archives (tests/pth_builder.h), each breaking one rule
//   G. missing / unexpected tensors and an inconsistent shape, through make_pth.py, refused by
//      sam_config_from_tensors
// Corrupted files are made under $BUILD/tmp (the build folder from argv[0] otherwise).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/pth_builder.h"
#include "tests/test_util.h"
#include "variants/core/checkpoint.h"
#include "variants/core/config.h"

static char build_dir[512], tmp_dir[700], work_path[800];
static const char *work = work_path;  // the file patches go to (the working copy by default)
static uint8_t *orig;  // the tiny fixture's bytes
static size_t orig_size;

static void find_build_dir(const char *argv0) {
    const char *env = getenv("BUILD"), *t = NULL;
    for (const char *s = argv0; (s = strstr(s, "/tests/")); s++) t = s;
    if (env) snprintf(build_dir, sizeof build_dir, "%s", env);
    else if (t) snprintf(build_dir, sizeof build_dir, "%.*s", (int)(t - argv0), argv0);
    else snprintf(build_dir, sizeof build_dir, "build");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/tmp/ckpt-faults-%d", build_dir, (int)getpid());
}

static void tmp_path(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", tmp_dir, name); }

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, n, f) == n;
    if (f) ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

// ---- the verdict on one read ---------------------------------------------------------------

// Reads path; returns 1 if it was refused properly: -1, *m empty, one line naming the file
// and (if expect) containing expect. msg gets the message, why the reason when not.
static int refused(const char *path, const char *expect, char *msg, size_t mlen, char *why, size_t wlen) {
    TensorMap m;
    memset(msg, 0, mlen);
    int rc = checkpoint_read(path, &m, msg, mlen);
    if (rc == 0) {
        snprintf(why, wlen, "accepted (%d tensors)", m.count);
        tmap_free(&m);
        return 0;
    }
    if (rc != -1) return snprintf(why, wlen, "returned %d", rc), 0;
    if (m.count || m.items || m.source) return snprintf(why, wlen, "left the map non-empty"), 0;
    if (!strstr(msg, path)) return snprintf(why, wlen, "message does not name the file: %s", msg), 0;
    if (strchr(msg, '\n') || strchr(msg, '\r')) return snprintf(why, wlen, "message spans lines: %s", msg), 0;
    if (strlen(msg) < strlen(path) + 8) return snprintf(why, wlen, "message says nothing: %s", msg), 0;
    if (expect && !strstr(msg, expect))
        return snprintf(why, wlen, "message lacks \"%s\": %s", expect, msg), 0;
    return 1;
}

static void expect_refused(const char *what, const char *path, const char *expect) {
    char msg[2048], why[2600] = "";
    int ok = refused(path, expect, msg, sizeof msg, why, sizeof why);
    if (ok) report(1, "%s: %s", what, msg);
    else report(0, "%s: %s", what, why);
}

// A sweep: many reads, one check. Refusals must be proper; acceptance is allowed only when
// allow_ok (corruption that a reader without CRC checks cannot see, e.g. a timestamp).
typedef struct {
    const char *what;
    int cases, accepted, bad;
    char first_bad[1024];
} Sweep;

static void sweep_one(Sweep *s, const char *path, int allow_ok, const char *label) {
    char msg[2048], why[2600];
    s->cases++;
    if (refused(path, NULL, msg, sizeof msg, why, sizeof why)) return;
    if (allow_ok && strncmp(why, "accepted", 8) == 0) {
        s->accepted++;
        return;
    }
    if (!s->bad++) snprintf(s->first_bad, sizeof s->first_bad, "%s: %s", label, why);
}

static void sweep_report(const Sweep *s, int allow_ok) {
    if (allow_ok)
        report(!s->bad, "%s: %d corruptions, %d refused properly, %d read (undetectable without CRCs)%s%s", s->what,
               s->cases, s->cases - s->accepted - s->bad, s->accepted, s->bad ? "; first bad: " : "", s->first_bad);
    else
        report(!s->bad, "%s: all %d refused with one line naming the file%s%s", s->what, s->cases,
               s->bad ? "; first bad: " : "", s->first_bad);
}

// ---- the fixture's layout, read independently of zipread.c ---------------------------------

static uint32_t rd16(const uint8_t *p) { return (uint32_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }

typedef struct {
    char name[128];
    size_t cdh;   // central directory header offset
    size_t lho;   // local header offset
    size_t data;  // data offset
    size_t size;
} Ent;

static Ent ents[512];
static int nents;
static size_t eocd, cd_off, cd_size;

static int parse_layout(void) {
    eocd = orig_size - 22;
    if (rd32(orig + eocd) != 0x06054b50) return -1;
    nents = (int)rd16(orig + eocd + 10);
    cd_size = rd32(orig + eocd + 12), cd_off = rd32(orig + eocd + 16);
    size_t p = cd_off;
    for (int i = 0; i < nents && i < 512; i++) {
        const uint8_t *h = orig + p;
        if (rd32(h) != 0x02014b50) return -1;
        size_t nlen = rd16(h + 28), xlen = rd16(h + 30), clen = rd16(h + 32);
        Ent *e = &ents[i];
        snprintf(e->name, sizeof e->name, "%.*s", (int)nlen, (const char *)h + 46);
        e->cdh = p, e->lho = rd32(h + 42), e->size = rd32(h + 20);
        e->data = e->lho + 30 + rd16(orig + e->lho + 26) + rd16(orig + e->lho + 28);
        p += 46 + nlen + xlen + clen;
    }
    return 0;
}

static const Ent *entry(const char *suffix) {
    for (int i = 0; i < nents; i++) {
        size_t n = strlen(ents[i].name), k = strlen(suffix);
        if (n >= k && strcmp(ents[i].name + n - k, suffix) == 0) return &ents[i];
    }
    return NULL;
}

// ---- in-place patches of the working copy --------------------------------------------------

static int wfd = -1;
static const uint8_t *wbase;  // the target's unpatched bytes

static void patch(size_t off, const void *bytes, size_t n) { CHECK(pwrite(wfd, bytes, n, (off_t)off) == (ssize_t)n); }
static void restore(size_t off, size_t n) { patch(off, wbase + off, n); }
static void patch_le(size_t off, uint64_t v, int bytes) {
    uint8_t b[8];
    for (int i = 0; i < bytes; i++) b[i] = (uint8_t)(v >> (8 * i));
    patch(off, b, (size_t)bytes);
}

// Patches, checks the refusal, restores.
static void patched_le(const char *what, size_t off, uint64_t v, int bytes, const char *expect) {
    patch_le(off, v, bytes);
    expect_refused(what, work, expect);
    restore(off, (size_t)bytes);
}

static void patched_bytes(const char *what, size_t off, const char *bytes, size_t n, const char *expect) {
    patch(off, bytes, n);
    expect_refused(what, work, expect);
    restore(off, n);
}

// ---- A. not checkpoints --------------------------------------------------------------------

static void not_checkpoints(void) {
    char p[900];
    tmp_path(p, sizeof p, "missing.pth");
    expect_refused("missing file", p, "cannot open");
    expect_refused("a directory", tmp_dir, "not a regular file");
    tmp_path(p, sizeof p, "empty.pth");
    write_file(p, "", 0);
    expect_refused("empty file", p, "empty");
    tmp_path(p, sizeof p, "short.pth");
    write_file(p, "PK\x05\x06", 4);
    expect_refused("4-byte file", p, "too short");
    tmp_path(p, sizeof p, "text.pth");
    char text[1000];
    memset(text, 'x', sizeof text);
    write_file(p, text, sizeof text);
    expect_refused("1000 bytes of text", p, "not a zip archive");
    const Ent *pkl = entry("/data.pkl");
    tmp_path(p, sizeof p, "raw_pickle.pth");
    write_file(p, orig + pkl->data, pkl->size);
    expect_refused("a bare pickle (no zip)", p, "not a zip archive");
}

// ---- B. truncation -------------------------------------------------------------------------

static int cmp_desc(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void truncations(void) {
    char p[900];
    tmp_path(p, sizeof p, "truncated.pth");
    CHECK(write_file(p, orig, orig_size) == 0);
    size_t *offs = xmalloc((orig_size / 4096 + 1300) * sizeof *offs), n = 0;
    for (size_t o = 0; o < 256; o++) offs[n++] = o;
    for (size_t o = 4096; o < orig_size; o += 4096) offs[n++] = o;
    for (size_t o = orig_size > 1024 ? orig_size - 1024 : 256; o < orig_size; o++) offs[n++] = o;
    qsort(offs, n, sizeof *offs, cmp_desc);
    Sweep s = {.what = "tiny fixture truncated at every byte of the first 256 and last 1024, every 4 KiB"};
    int fd = open(p, O_WRONLY);
    CHECK(fd >= 0);
    size_t last = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (offs[i] == last) continue;
        last = offs[i];
        CHECK(ftruncate(fd, (off_t)offs[i]) == 0);
        char label[64];
        snprintf(label, sizeof label, "%zu bytes", offs[i]);
        sweep_one(&s, p, 0, label);
    }
    close(fd);
    free(offs);
    sweep_report(&s, 0);

    // Data cut short but the directory kept (and its offset fixed up): every entry from the
    // cut on must be found outside the file.
    Sweep h = {.what = "data truncated every 128 KiB with the central directory kept"};
    size_t tail = orig_size - cd_off;
    uint8_t *buf = xmalloc(orig_size);
    for (size_t cut = 0; cut < cd_off; cut += 131072) {
        memcpy(buf, orig, cut);
        memcpy(buf + cut, orig + cd_off, tail);
        size_t e = cut + tail - 22;
        buf[e + 16] = (uint8_t)cut, buf[e + 17] = (uint8_t)(cut >> 8);
        buf[e + 18] = (uint8_t)(cut >> 16), buf[e + 19] = (uint8_t)(cut >> 24);
        CHECK(write_file(p, buf, cut + tail) == 0);
        char label[64];
        snprintf(label, sizeof label, "cut at %zu", cut);
        sweep_one(&h, p, 0, label);
    }
    free(buf);
    sweep_report(&h, 0);

    // The pickle cut short (its entry's sizes reduced): every prefix must be refused.
    const Ent *pkl = entry("/data.pkl");
    Sweep k = {.what = "data.pkl truncated every 37 bytes (entry sizes patched)"};
    for (size_t cut = 0; cut < pkl->size; cut += 37) {
        patch_le(pkl->cdh + 20, cut, 4);
        patch_le(pkl->cdh + 24, cut, 4);
        char label[64];
        snprintf(label, sizeof label, "pickle of %zu bytes", cut);
        sweep_one(&k, work, 0, label);
    }
    restore(pkl->cdh + 20, 8);
    sweep_report(&k, 0);
}

// ---- C. directory fields -------------------------------------------------------------------

static void directory_fields(void) {
    // torch (miniz) writes ZIP64 end records always: locator at eocd - 20, record before it.
    size_t loc = eocd - 20, z64 = cd_off + cd_size, e = eocd;
    int has64 = rd32(orig + loc) == 0x07064b50 && rd32(orig + z64) == 0x06064b50 && rd32(orig + loc + 8) == z64;
    report(has64, "the tiny fixture carries ZIP64 end records at %zu, as torch.save writes them", z64);
    if (!has64) return;

    // Classic fields that are neither the escape (0xFFFF..) nor the ZIP64 value.
    patched_le("end record: disk number 1", e + 4, 1, 2, "disk number 1 disagrees");
    patched_le("end record: directory's disk 1", e + 6, 1, 2, "directory disk 1 disagrees");
    patched_le("end record: one entry too many", e + 10, (uint64_t)nents + 1, 2, "disagrees");
    patched_le("end record: entries on disk 0", e + 8, 0, 2, "entries on disk 0 disagrees");
    patched_le("end record: directory size + 1", e + 12, cd_size + 1, 4, "directory size");
    patched_le("end record: directory offset - 1", e + 16, cd_off - 1, 4, "directory offset");
    patched_le("end record: comment length 1 (record no longer ends the file)", e + 20, 1, 2,
               "no end-of-central-directory");
    patched_le("end record: signature", e, 0x06054b51, 4, "no end-of-central-directory");

    // With the classic fields escaped, the ZIP64 record alone locates the directory.
    patch_le(e + 4, UINT64_MAX, 8);
    patch_le(e + 12, UINT64_MAX, 8);
    TensorMap m;
    char err[1024] = "";
    int ok = checkpoint_read(work, &m, err, sizeof err) == 0;
    report(ok, "control: classic end record all 0xFFFF.., ZIP64 record in charge: reads %s", err);
    if (ok) tmap_free(&m);
    patched_le("ZIP64 record: disk 1", z64 + 16, 1, 4, "multi-disk");
    patched_le("ZIP64 record: directory's disk 1", z64 + 20, 1, 4, "multi-disk");
    patched_le("ZIP64 record: entries on disk differ", z64 + 24, (uint64_t)nents - 1, 8, "multi-disk");
    patch_le(z64 + 24, (uint64_t)nents + 1, 8);
    patched_le("ZIP64 record: one entry too many", z64 + 32, (uint64_t)nents + 1, 8, "is corrupt");
    patch_le(z64 + 24, (uint64_t)nents - 1, 8);
    patched_le("ZIP64 record: one entry too few", z64 + 32, (uint64_t)nents - 1, 8, "after its");
    patch_le(z64 + 24, 0, 8);
    patched_le("ZIP64 record: no entries", z64 + 32, 0, 8, "no entries");
    patch_le(z64 + 24, UINT64_C(1) << 40, 8);
    patched_le("ZIP64 record: 2^40 entries", z64 + 32, UINT64_C(1) << 40, 8, "cannot hold");
    restore(z64 + 24, 8);
    patched_le("ZIP64 record: directory size 0", z64 + 40, 0, 8, "directory location");
    patched_le("ZIP64 record: directory size + 1", z64 + 40, cd_size + 1, 8, "directory location");
    patched_le("ZIP64 record: directory size 2^63", z64 + 40, UINT64_C(1) << 63, 8, "directory location");
    patched_le("ZIP64 record: directory offset + 1", z64 + 48, cd_off + 1, 8, "directory location");
    patched_le("ZIP64 record: directory offset 0", z64 + 48, 0, 8, "directory location");
    patched_le("ZIP64 record: directory offset 2^64-1", z64 + 48, UINT64_MAX, 8, "directory location");
    patched_le("ZIP64 record: signature", z64, 0x06064b51, 4, "corrupt ZIP64");
    patched_le("ZIP64 record: record size 10", z64 + 4, 10, 8, "corrupt ZIP64");
    patched_le("ZIP64 record: record size 2^64-1", z64 + 4, UINT64_MAX, 8, "corrupt ZIP64");
    patched_le("ZIP64 locator: record offset past the end", loc + 8, orig_size, 8, "lies outside the file");
    patched_le("ZIP64 locator: record offset 2^64-8", loc + 8, UINT64_MAX - 7, 8, "lies outside the file");
    patched_le("ZIP64 locator: 2 disks", loc + 16, 2, 4, "multi-disk");
    restore(e + 4, 16);

    // The same archive without ZIP64 records (classic end record right after the directory):
    // there the classic fields are in charge.
    char cpath[900];
    tmp_path(cpath, sizeof cpath, "classic.pth");
    uint8_t *classic = xmalloc(z64 + 22);
    memcpy(classic, orig, z64);
    memcpy(classic + z64, orig + eocd, 22);
    CHECK(write_file(cpath, classic, z64 + 22) == 0);
    const char *saved = work;
    int saved_fd = wfd;
    work = cpath, wbase = classic, wfd = open(cpath, O_WRONLY);
    CHECK(wfd >= 0);
    ok = checkpoint_read(work, &m, err, sizeof err) == 0;
    report(ok, "control: the fixture without ZIP64 records reads %s", err);
    if (ok) tmap_free(&m);
    e = z64;
    patched_le("classic end record: disk number 1", e + 4, 1, 2, "multi-disk");
    patched_le("classic end record: directory's disk 1", e + 6, 1, 2, "multi-disk");
    patched_le("classic end record: entries on disk differ", e + 8, (uint64_t)nents - 1, 2, "multi-disk");
    patch_le(e + 8, (uint64_t)nents + 1, 2);
    patched_le("classic end record: one entry too many", e + 10, (uint64_t)nents + 1, 2, "is corrupt");
    patch_le(e + 8, (uint64_t)nents - 1, 2);
    patched_le("classic end record: one entry too few", e + 10, (uint64_t)nents - 1, 2, "after its");
    patch_le(e + 8, 0, 2);
    patched_le("classic end record: no entries", e + 10, 0, 2, "no entries");
    patch_le(e + 8, 0xFFFF, 2);
    patched_le("classic end record: 65535 entries", e + 10, 0xFFFF, 2, "cannot hold");
    restore(e + 8, 2);
    patched_le("classic end record: directory size 0", e + 12, 0, 4, "directory location");
    patched_le("classic end record: directory size - 1", e + 12, cd_size - 1, 4, "directory location");
    patched_le("classic end record: directory size 0xFFFFFFFF", e + 12, 0xFFFFFFFF, 4, "directory location");
    patched_le("classic end record: directory offset + 1", e + 16, cd_off + 1, 4, "directory location");
    patched_le("classic end record: directory offset 0xFFFFFFFF", e + 16, 0xFFFFFFFF, 4, "directory location");
    patched_le("classic end record: a ZIP64 locator signature in front of it", e - 20, 0x07064b50, 4, NULL);
    close(wfd);
    work = saved, wfd = saved_fd, wbase = orig;
    free(classic);

    const char *targets[3] = {"/data.pkl", "/data/0", NULL};
    for (int t = 0; t < 3; t++) {
        const Ent *x = targets[t] ? entry(targets[t]) : &ents[nents - 1];
        size_t h = x->cdh;
        char w[300];
#define CASE(label, off, v, bytes, expect)                                  \
    do {                                                                    \
        snprintf(w, sizeof w, "directory entry %s: " label, x->name);       \
        patched_le(w, off, v, bytes, expect);                               \
    } while (0)
        uint32_t nlen = rd16(orig + h + 28);
        CASE("signature", h, 0x02014b51, 4, "corrupt");
        CASE("name length + 1", h + 28, nlen + 1, 2, NULL);
        CASE("name length - 1", h + 28, nlen - 1, 2, NULL);
        CASE("name length 0", h + 28, 0, 2, NULL);
        CASE("name length 65535", h + 28, 0xFFFF, 2, "overruns");
        CASE("extra length 65535", h + 30, 0xFFFF, 2, "overruns");
        CASE("comment length 65535", h + 32, 0xFFFF, 2, "overruns");
        CASE("compressed size 0xFFFFFFFF without ZIP64 field", h + 20, 0xFFFFFFFF, 4, "ZIP64");
        CASE("uncompressed size 0xFFFFFFFF without ZIP64 field", h + 24, 0xFFFFFFFF, 4, "ZIP64");
        CASE("local header offset 0xFFFFFFFF without ZIP64 field", h + 42, 0xFFFFFFFF, 4, "ZIP64");
        CASE("disk 0xFFFF without ZIP64 field", h + 34, 0xFFFF, 2, "ZIP64");
        CASE("disk 1", h + 34, 1, 2, "another disk");
        CASE("local header offset + 1", h + 42, x->lho + 1, 4, "local header");
        CASE("local header offset at the directory", h + 42, cd_off, 4, "local header");
        CASE("local header offset past the end", h + 42, orig_size + 1000, 4, "local header");
        CASE("local header offset of another entry", h + 42, ents[t == 1 ? 0 : 5].lho, 4, "names another entry");
        patch_le(h + 24, cd_off, 4);
        CASE("sizes reaching past the directory", h + 20, cd_off, 4, "runs past");
        restore(h + 24, 4);
        CASE("local header signature", x->lho, 0x04034b51, 4, "local header");
        CASE("local header name length + 1", x->lho + 26, nlen + 1, 2, "names another entry");
        if (t == 2) CASE("local header extra length 65535 (data past the directory)", x->lho + 28, 0xFFFF, 2, "runs past");
        if (t < 2) {  // entries the reader uses
            CASE("compressed (method 8)", h + 10, 8, 2, "is compressed");
            CASE("encrypted flag", h + 8, 1, 2, "encrypted");
            CASE("stored sizes differ", h + 24, x->size + 1, 4, "sizes differ");
        }
#undef CASE
    }
    // A storage entry shorter than its tensor: data/0 holds pos_embed (32768 floats).
    const Ent *d0 = entry("/data/0");
    patch_le(d0->cdh + 20, d0->size / 2, 4);
    patched_le("storage entry data/0 cut to half its size", d0->cdh + 24, d0->size / 2, 4, "fewer than");
    restore(d0->cdh + 20, 4);
}

// ---- D. the pickle, patched in place -------------------------------------------------------

static void pickle_patches(void) {
    const Ent *pe = entry("/data.pkl");
    size_t k = pe->data;
    const uint8_t *pk = orig + k;
    // The fixture's opening (see pickletools.dis): 0 PROTO 2, 2 GLOBAL 'collections OrderedDict',
    // 27 BINPUT 0, 29 EMPTY_TUPLE, 30 REDUCE, 31 BINPUT 1, 33 MARK, 34 BINUNICODE name,
    // 64 GLOBAL 'torch._utils _rebuild_tensor_v2', 115 GLOBAL 'torch FloatStorage',
    // 155 BININT2 32768 (numel of storage 0), 191 BINGET 0.
    int layout = memcmp(pk, "\x80\x02" "ccollections\nOrderedDict\nq\x00)Rq\x01(X", 35) == 0 &&
                 memcmp(pk + 64, "ctorch._utils\n_rebuild_tensor_v2\n", 33) == 0 &&
                 memcmp(pk + 115, "ctorch\nFloatStorage\n", 20) == 0 && pk[155] == 'M' &&
                 rd16(pk + 156) == 32768 && pk[191] == 'h' && pk[192] == 0 && pk[pe->size - 1] == '.';
    report(layout, "the tiny fixture's pickle has the layout these patches assume");
    if (!layout) return;
    patched_bytes("opcode BINFLOAT at byte 29", k + 29, "G", 1, "byte 29: unsupported pickle opcode BINFLOAT (0x47)");
    patched_bytes("opcode FRAME at byte 29", k + 29, "\x95", 1, "unsupported pickle opcode FRAME");
    patched_bytes("opcode STACK_GLOBAL at byte 29", k + 29, "\x93", 1, "unsupported pickle opcode STACK_GLOBAL");
    patched_bytes("unknown opcode 0xff at byte 29", k + 29, "\xff", 1, "byte 29: unknown pickle opcode 0xff");
    patched_bytes("protocol 9", k + 1, "\x09", 1, "unsupported pickle protocol 9");
    patched_bytes("global torch._utils._rebuild_tensor_v3", k + 64 + 31, "3", 1,
                  "unsupported pickle global torch._utils._rebuild_tensor_v3");
    patched_bytes("global collections.OrderedDicx", k + 2 + 23, "x", 1, "unsupported pickle global collections.OrderedDicx");
    patched_bytes("global posix.system", k + 115, "cposix\nsystem\n", 14, "unsupported pickle global posix.system");
    patched_bytes("global torch.DoubleStorage", k + 115, "ctorch\nDoubleStorage\n", 21,
                  "unsupported pickle global torch.DoubleStorage");
    patched_bytes("BINGET of an undefined memo index", k + 192, "\xc8", 1, "memo index 200 is not defined");
    patched_bytes("BINGET of memo 1 where a callable is expected", k + 192, "\x01", 1, "not a global");
    patched_bytes("REDUCE with one item on the stack (underflow)", k + 29, "R", 1, "stack underflow in REDUCE");
    patched_bytes("SETITEM as the first opcode (underflow)", k + 0, "s", 1, "stack underflow in SETITEM");
    patched_bytes("TUPLE without MARK", k + 29, "t", 1, "TUPLE without a MARK");
    patched_bytes("BINPUT on an empty stack", k + 0, "q\x00", 2, "stack underflow in BINPUT");
    patched_bytes("STOP right after the OrderedDict global (not a dict)", k + 27, ".", 1, "no OrderedDict");
    patched_bytes("pickle without STOP", k + pe->size - 1, "N", 1, "ends without STOP");
    patched_bytes("storage 0 declares 16384 elements, pos_embed needs 32768", k + 156, "\x00\x40", 2,
                  "reaches element 32767 of storage 0, which has 16384");
    patched_bytes("storage 0 declares 65535 elements, more than its entry holds", k + 156, "\xff\xff", 2, "fewer than");
    patched_bytes("storage key \"0\" -> \"x\" names a missing entry", k + 142, "x", 1,
                  "storage entry model/data/x is missing");
    patched_bytes("BINUNICODE length past the end", k + 35, "\xff\xff\xff\x7f", 4, "truncated inside BINUNICODE");
    // A LONG_BINPUT with an index no pickle of this size can reach.
    const uint8_t *r = memchr(pk + 256, 'r', pe->size - 256);
    while (r && !(r[-2] == 'q' || r[-5] == 'r' || r[-1] == '\x00')) r = memchr(r + 1, 'r', pe->size - (size_t)(r + 1 - pk));
    const uint8_t *lp = NULL;
    for (size_t i = 1000; i + 5 < pe->size && !lp; i++)
        if (pk[i] == 'r' && rd32(pk + i + 1) >= 256 && rd32(pk + i + 1) < 4000 && pk[i - 1] != 'X') lp = pk + i;
    if (lp) patched_le("LONG_BINPUT index 2^31", k + (size_t)(lp - pk) + 1, 0x80000000u, 4, "memo index");
    else report(0, "no LONG_BINPUT found in the fixture's pickle");
    // byteorder must be "little".
    const Ent *bo = entry("/byteorder");
    if (bo) patched_bytes("byteorder \"bigxxx\"", bo->data, "bigxxx", 6, "byteorder");
}

// ---- E. random corruption sweeps -----------------------------------------------------------

static uint64_t rng = 0x853c49e6748fea9bull;
static uint32_t next_rand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

static void random_sweeps(void) {
    const Ent *pe = entry("/data.pkl");
    Sweep s = {.what = "data.pkl: 1500 random single-byte corruptions"};
    for (int i = 0; i < 1500; i++) {
        size_t off = pe->data + next_rand() % pe->size;
        uint8_t v = (uint8_t)next_rand();
        if (v == orig[off]) v ^= 0x55;
        patch(off, &v, 1);
        char label[64];
        snprintf(label, sizeof label, "byte %zu = 0x%02x", off - pe->data, v);
        sweep_one(&s, work, 1, label);
        restore(off, 1);
    }
    sweep_report(&s, 1);

    Sweep c = {.what = "central directory and end record: every 5th byte set to 0xFF, then to 0x00"};
    for (size_t off = cd_off; off < orig_size; off += 5)
        for (int v = 0; v < 2; v++) {
            uint8_t b = v ? 0x00 : 0xFF;
            if (b == orig[off]) continue;
            patch(off, &b, 1);
            char label[64];
            snprintf(label, sizeof label, "byte %zu = 0x%02x", off, b);
            sweep_one(&c, work, 1, label);
            restore(off, 1);
        }
    sweep_report(&c, 1);

    Sweep l = {.what = "local headers: every byte of 8 headers set to 0xFF"};
    for (int i = 0; i < nents; i += nents / 8 + 1)
        for (size_t off = ents[i].lho; off < ents[i].data; off++) {
            uint8_t b = 0xFF;
            if (b == orig[off]) continue;
            patch(off, &b, 1);
            char label[64];
            snprintf(label, sizeof label, "byte %zu = 0xff", off);
            sweep_one(&l, work, 1, label);
            restore(off, 1);
        }
    sweep_report(&l, 1);
}

// ---- F. hand-built pickles and archives ----------------------------------------------------

static const float W[6] = {1, 2, 3, 4, 5, 6};

// A state_dict pickle: OrderedDict, MARK, then the body the case writes, SETITEMS, STOP.
static void begin_dict(Buf *b) {
    pk_proto(b);
    pk_empty_ordered_dict(b);
    pk_mark(b);
}
static void end_dict(Buf *b) {
    buf_u8(b, 'u');
    pk_stop(b);
}
static void tensor_w(Buf *b, const char *type, const char *key, int64_t numel, int64_t off, int nd,
                     const int64_t *shape, const int64_t *stride) {
    pk_str(b, "w");
    pk_tensor(b, type, key, numel, off, nd, shape, stride);
}
#define S(...) ((const int64_t[]){__VA_ARGS__})

static void hand_case(const char *what, const Buf *pkl, const char *expect) {
    char p[900];
    tmp_path(p, sizeof p, "hand.pth");
    Buf st = {0};
    buf_put(&st, W, sizeof W);
    CHECK(pth_write(p, pkl, &st, 1) == 0);
    buf_free(&st);
    expect_refused(what, p, expect);
}

static void hand_built(void) {
    char p[900];
    Buf b = {0};
    // Controls: the plain pickle, and one using the rarer opcodes torch may also emit.
    begin_dict(&b);
    tensor_w(&b, "FloatStorage", "0", 6, 0, 2, S(2, 3), S(3, 1));
    end_dict(&b);
    tmp_path(p, sizeof p, "hand.pth");
    Buf st = {0};
    buf_put(&st, W, sizeof W);
    CHECK(pth_write(p, &b, &st, 1) == 0);
    TensorMap m;
    char err[1024] = "";
    int ok = checkpoint_read(p, &m, err, sizeof err) == 0;
    ok = ok && m.count == 1 && m.items[0].ndim == 2 && m.items[0].shape[0] == 2 && memcmp(m.items[0].data, W, sizeof W) == 0;
    report(ok, "control: a hand-built one-tensor checkpoint reads back (2, 3) = 1..6 %s", err);
    if (m.count) tmap_free(&m);
    buf_free(&b);

    // The rarer opcodes: LONG_BINPUT/LONG_BINGET, SHORT_BINUNICODE, LONG1, TUPLE2/3, NEWTRUE,
    // NONE as the 7th (metadata) argument, a transposed view, and a BUILD whose state dict
    // holds a list made by APPEND/APPENDS (as a state_dict's _metadata BUILD).
    pk_proto(&b);
    pk_empty_ordered_dict(&b);
    buf_u8(&b, 'r'), buf_le(&b, 100, 4);  // LONG_BINPUT 100
    pk_mark(&b);
    buf_u8(&b, 0x8c), buf_u8(&b, 1), buf_u8(&b, 't');
    pk_global(&b, "torch._utils", "_rebuild_tensor_v2");
    pk_mark(&b);
    pk_mark(&b);
    pk_str(&b, "storage");
    pk_global(&b, "torch", "FloatStorage");
    pk_str(&b, "0"), pk_str(&b, "cuda:0");
    buf_u8(&b, 0x8a), buf_u8(&b, 1), buf_u8(&b, 6);  // LONG1 6
    buf_u8(&b, 't'), buf_u8(&b, 'Q');
    buf_u8(&b, 0x8a), buf_u8(&b, 0);                  // LONG1 of 0 bytes: offset 0
    pk_int(&b, 3), pk_int(&b, 2), buf_u8(&b, 0x86);   // TUPLE2 size (3, 2)
    pk_int(&b, 1), pk_int(&b, 3), buf_u8(&b, 0x86);   // TUPLE2 stride (1, 3): a transpose
    buf_u8(&b, 0x88);                                 // NEWTRUE requires_grad
    pk_empty_ordered_dict(&b);
    buf_u8(&b, 'N');                                  // metadata None
    buf_u8(&b, 't'), buf_u8(&b, 'R');
    buf_u8(&b, 'u');
    // Tuples of memoised values (TUPLE1/2/3, BINPUT/BINGET, LONG_BINGET), left on the stack
    // under the result, which pickle.py ignores: [((d, ((d,), (d,)), (d,)),)], then d again.
    buf_u8(&b, 'j'), buf_le(&b, 100, 4);
    buf_u8(&b, 0x85), buf_u8(&b, 'q'), buf_u8(&b, 9);
    buf_u8(&b, 'h'), buf_u8(&b, 9), buf_u8(&b, 0x86);
    buf_u8(&b, 'h'), buf_u8(&b, 9), buf_u8(&b, 0x87);
    buf_u8(&b, 0x85);
    buf_u8(&b, 'j'), buf_le(&b, 100, 4);
    buf_u8(&b, '}');                                  // state
    pk_str(&b, "_metadata");
    buf_u8(&b, ']'), buf_u8(&b, 'N'), buf_u8(&b, 'a');
    pk_mark(&b), buf_u8(&b, 0x88), buf_u8(&b, 0x89), buf_u8(&b, 'e');
    buf_u8(&b, 's');                                  // state['_metadata'] = [None, True, False]
    pk_str(&b, "x"), pk_int(&b, 1), pk_int(&b, 2), pk_int(&b, 3), buf_u8(&b, 0x87);
    buf_u8(&b, 's');                                  // state['x'] = (1, 2, 3)
    buf_u8(&b, 'b');                                  // BUILD
    pk_stop(&b);
    CHECK(pth_write(p, &b, &st, 1) == 0);
    ok = checkpoint_read(p, &m, err, sizeof err) == 0;
    static const float WT[6] = {1, 4, 2, 5, 3, 6};
    ok = ok && m.count == 1 && strcmp(m.items[0].name, "t") == 0 && m.items[0].shape[0] == 3 &&
         m.items[0].shape[1] == 2 && memcmp(m.items[0].data, WT, sizeof WT) == 0;
    report(ok, "control: SHORT_BINUNICODE, LONG_BINPUT/GET, LONG1, TUPLE2/3, NEWTRUE, NONE, 7 arguments, "
               "EMPTY_LIST/APPEND(S), BUILD, a transposed view: read back as expected %s", err);
    if (m.count) tmap_free(&m);
    buf_free(&b);
    buf_free(&st);

    struct {
        const char *what, *expect;
    } c;
#define HAND(label, want, body)  \
    do {                         \
        c.what = label;          \
        c.expect = want;         \
        body;                    \
        hand_case(c.what, &b, c.expect); \
        buf_free(&b);            \
    } while (0)
    HAND("size 2^40", "tensor size 1099511627776 is out of range",
         (begin_dict(&b), tensor_w(&b, "FloatStorage", "0", 6, 0, 2, S(INT64_C(1) << 40, 1), S(1, 1)), end_dict(&b)));
    HAND("2^31 x 2^31 elements", "implausible number of elements",
         (begin_dict(&b), tensor_w(&b, "FloatStorage", "0", 6, 0, 2, S(INT64_C(1) << 31, INT64_C(1) << 31), S(0, 0)), end_dict(&b)));
    HAND("negative stride", "tensor stride -1 is out of range",
         (begin_dict(&b), tensor_w(&b, "FloatStorage", "0", 6, 0, 2, S(2, 3), S(-1, 1)), end_dict(&b)));
    HAND("negative storage offset", "storage offset -5 is out of range",
         (begin_dict(&b), tensor_w(&b, "FloatStorage", "0", 6, -5, 2, S(2, 3), S(3, 1)), end_dict(&b)));
    HAND("storage offset 1 (needs 7 of 6 elements)", "reaches element 6 of storage 0, which has 6",
         (begin_dict(&b), tensor_w(&b, "FloatStorage", "0", 6, 1, 2, S(2, 3), S(3, 1)), end_dict(&b)));
    HAND("stride 2^61 x size 2^20 (64-bit overflow)", "reaches element >",
         (begin_dict(&b), tensor_w(&b, "FloatStorage", "0", 6, 0, 2, S(1 << 20, 2), S(INT64_C(1) << 61, 1)), end_dict(&b)));
    HAND("9 dimensions", "9 dimensions",
         (begin_dict(&b), tensor_w(&b, "FloatStorage", "0", 6, 0, 9, S(1, 1, 1, 1, 1, 1, 1, 1, 1), S(1, 1, 1, 1, 1, 1, 1, 1, 1)), end_dict(&b)));
    HAND("storage numel 100 in a 24-byte entry", "fewer than",
         (begin_dict(&b), tensor_w(&b, "FloatStorage", "0", 100, 0, 2, S(2, 3), S(3, 1)), end_dict(&b)));
    HAND("bfloat16 storage of 13 elements in a 24-byte entry", "fewer than",
         (begin_dict(&b), tensor_w(&b, "BFloat16Storage", "0", 13, 0, 1, S(13), S(1)), end_dict(&b)));
    HAND("storage key 7 with no entry", "storage entry archive/data/7 is missing",
         (begin_dict(&b), tensor_w(&b, "FloatStorage", "7", 6, 0, 2, S(2, 3), S(3, 1)), end_dict(&b)));
    HAND("storage key with a slash", "storage key",
         (begin_dict(&b), tensor_w(&b, "FloatStorage", "../0", 6, 0, 2, S(2, 3), S(3, 1)), end_dict(&b)));
    HAND("storage type torch.DoubleStorage", "unsupported pickle global torch.DoubleStorage",
         (begin_dict(&b), tensor_w(&b, "DoubleStorage", "0", 6, 0, 2, S(2, 3), S(3, 1)), end_dict(&b)));
    HAND("value is an int, not a tensor", "state_dict entry w is not a tensor",
         (begin_dict(&b), pk_str(&b, "w"), pk_int(&b, 5), end_dict(&b)));
    HAND("key is an int", "not a printable string",
         (begin_dict(&b), pk_int(&b, 5), pk_tensor(&b, "FloatStorage", "0", 6, 0, 1, S(6), S(1)), end_dict(&b)));
    HAND("key holds a newline", "not a printable string",
         (begin_dict(&b), pk_str(&b, "a\nb"), pk_tensor(&b, "FloatStorage", "0", 6, 0, 1, S(6), S(1)), end_dict(&b)));
    HAND("key holds a NUL", "not a printable string",
         (begin_dict(&b), pk_strn(&b, "a\0b", 3), pk_tensor(&b, "FloatStorage", "0", 6, 0, 1, S(6), S(1)), end_dict(&b)));
    HAND("the same name twice", "tensor w appears twice",
         (begin_dict(&b), tensor_w(&b, "FloatStorage", "0", 6, 0, 1, S(6), S(1)),
          tensor_w(&b, "FloatStorage", "0", 6, 0, 1, S(6), S(1)), end_dict(&b)));
    HAND("persistent id of 4 items", "persistent id",
         (begin_dict(&b), pk_str(&b, "w"), pk_global(&b, "torch._utils", "_rebuild_tensor_v2"), pk_mark(&b), pk_mark(&b),
          pk_str(&b, "storage"), pk_global(&b, "torch", "FloatStorage"), pk_str(&b, "0"), pk_int(&b, 6),
          buf_u8(&b, 't'), buf_u8(&b, 'Q'), end_dict(&b)));
    HAND("persistent id is not a tuple", "persistent id",
         (begin_dict(&b), pk_str(&b, "w"), pk_str(&b, "storage"), buf_u8(&b, 'Q'), end_dict(&b)));
    HAND("calling torch.FloatStorage", "REDUCE calls torch.FloatStorage",
         (begin_dict(&b), pk_str(&b, "w"), pk_global(&b, "torch", "FloatStorage"), buf_u8(&b, ')'), buf_u8(&b, 'R'), end_dict(&b)));
    HAND("REDUCE of a tuple", "not a global",
         (begin_dict(&b), pk_str(&b, "w"), buf_u8(&b, ')'), buf_u8(&b, ')'), buf_u8(&b, 'R'), end_dict(&b)));
    HAND("REDUCE with a non-tuple argument", "not a tuple",
         (begin_dict(&b), pk_str(&b, "w"), pk_global(&b, "collections", "OrderedDict"), pk_int(&b, 1), buf_u8(&b, 'R'), end_dict(&b)));
    HAND("OrderedDict called with arguments", "OrderedDict called with arguments",
         (begin_dict(&b), pk_str(&b, "w"), pk_global(&b, "collections", "OrderedDict"), pk_int(&b, 1), buf_u8(&b, 0x85),
          buf_u8(&b, 'R'), end_dict(&b)));
    HAND("_rebuild_tensor_v2 with 5 arguments", "5 arguments",
         (begin_dict(&b), pk_str(&b, "w"), pk_global(&b, "torch._utils", "_rebuild_tensor_v2"), pk_mark(&b),
          pk_int(&b, 1), pk_int(&b, 1), pk_int(&b, 1), pk_int(&b, 1), pk_int(&b, 1), buf_u8(&b, 't'), buf_u8(&b, 'R'), end_dict(&b)));
    HAND("_rebuild_tensor_v2 on a string, not a storage", "not a persistent storage",
         (begin_dict(&b), pk_str(&b, "w"), pk_global(&b, "torch._utils", "_rebuild_tensor_v2"), pk_mark(&b),
          pk_str(&b, "s"), pk_int(&b, 0), buf_u8(&b, ')'), buf_u8(&b, ')'), buf_u8(&b, 0x89), pk_empty_ordered_dict(&b),
          buf_u8(&b, 't'), buf_u8(&b, 'R'), end_dict(&b)));
    HAND("size and stride of different lengths", "size and stride",
         (begin_dict(&b), pk_str(&b, "w"), pk_global(&b, "torch._utils", "_rebuild_tensor_v2"), pk_mark(&b), pk_mark(&b),
          pk_str(&b, "storage"), pk_global(&b, "torch", "FloatStorage"), pk_str(&b, "0"), pk_str(&b, "cpu"), pk_int(&b, 6),
          buf_u8(&b, 't'), buf_u8(&b, 'Q'), pk_int(&b, 0), pk_int(&b, 6), buf_u8(&b, 0x85), buf_u8(&b, ')'), buf_u8(&b, 0x89),
          pk_empty_ordered_dict(&b), buf_u8(&b, 't'), buf_u8(&b, 'R'), end_dict(&b)));
    HAND("hooks are None", "hooks",
         (begin_dict(&b), pk_str(&b, "w"), pk_global(&b, "torch._utils", "_rebuild_tensor_v2"), pk_mark(&b), pk_mark(&b),
          pk_str(&b, "storage"), pk_global(&b, "torch", "FloatStorage"), pk_str(&b, "0"), pk_str(&b, "cpu"), pk_int(&b, 6),
          buf_u8(&b, 't'), buf_u8(&b, 'Q'), pk_int(&b, 0), pk_int(&b, 6), buf_u8(&b, 0x85), pk_int(&b, 1), buf_u8(&b, 0x85),
          buf_u8(&b, 0x89), buf_u8(&b, 'N'), buf_u8(&b, 't'), buf_u8(&b, 'R'), end_dict(&b)));
    HAND("SETITEMS with an odd number of items", "odd number",
         (begin_dict(&b), pk_str(&b, "w"), end_dict(&b)));
    HAND("an empty state_dict", "holds no tensors", (begin_dict(&b), end_dict(&b)));
    HAND("a list instead of a dict", "no OrderedDict", (pk_proto(&b), buf_u8(&b, ']'), pk_stop(&b)));
    HAND("STOP on an empty stack", "stack underflow in STOP", (pk_proto(&b), pk_stop(&b)));
    HAND("STOP inside an open MARK", "stack underflow in STOP", (begin_dict(&b), pk_stop(&b)));
    HAND("BINGET 5 before any BINPUT", "memo index 5 is not defined",
         (pk_proto(&b), buf_u8(&b, 'h'), buf_u8(&b, 5), pk_stop(&b)));
    HAND("LONG_BINGET 2^32-1", "memo index 4294967295 is not defined",
         (pk_proto(&b), buf_u8(&b, 'j'), buf_le(&b, 0xFFFFFFFF, 4), pk_stop(&b)));
    HAND("LONG_BINPUT 2^32-1", "implausible memo index 4294967295",
         (pk_proto(&b), buf_u8(&b, '}'), buf_u8(&b, 'r'), buf_le(&b, 0xFFFFFFFF, 4), pk_stop(&b)));
    HAND("BUILD on a tuple", "BUILD on something other than an OrderedDict",
         (pk_proto(&b), buf_u8(&b, ')'), buf_u8(&b, '}'), buf_u8(&b, 'b'), pk_stop(&b)));
    HAND("SETITEM on a list", "SETITEM on something other than a dict",
         (pk_proto(&b), buf_u8(&b, ']'), pk_int(&b, 1), pk_int(&b, 2), buf_u8(&b, 's'), pk_stop(&b)));
    HAND("APPEND on a dict", "APPEND on something other than a list",
         (pk_proto(&b), buf_u8(&b, '}'), pk_int(&b, 1), buf_u8(&b, 'a'), pk_stop(&b)));
    HAND("TUPLE3 with two items", "stack underflow in TUPLE3",
         (pk_proto(&b), pk_int(&b, 1), pk_int(&b, 2), buf_u8(&b, 0x87), pk_stop(&b)));
    HAND("SETITEMS without MARK", "SETITEMS without a MARK",
         (pk_proto(&b), buf_u8(&b, '}'), buf_u8(&b, 'u'), pk_stop(&b)));
    HAND("LONG1 of 9 bytes", "LONG1 of 9 bytes", (pk_proto(&b), buf_u8(&b, 0x8a), buf_u8(&b, 9), pk_stop(&b)));
    HAND("BININT cut short", "truncated inside BININT", (pk_proto(&b), buf_u8(&b, 'J'), buf_u8(&b, 1)));
    HAND("GLOBAL without its newlines", "truncated inside GLOBAL", (pk_proto(&b), buf_put(&b, "ctorch", 6)));
    HAND("PROTO without its argument", "truncated inside PROTO", (buf_u8(&b, 0x80)));
    HAND("an empty pickle", "ends without STOP", (void)0);
    HAND("pickle protocol 1", "unsupported pickle protocol 1", (buf_u8(&b, 0x80), buf_u8(&b, 1), pk_stop(&b)));
    HAND("INST (protocol 0 object creation)", "unsupported pickle opcode INST",
         (pk_proto(&b), buf_put(&b, "ios\nsystem\n", 11), pk_stop(&b)));
#undef HAND

    // Archive-level cases around a valid pickle.
    begin_dict(&b);
    tensor_w(&b, "FloatStorage", "0", 6, 0, 2, S(2, 3), S(3, 1));
    end_dict(&b);
    struct {
        const char *what, *expect;
        ZipIn e[4];
        int n;
    } z[] = {
        {"data.pkl compressed (method 8)", "archive/data.pkl is compressed",
         {{"archive/data.pkl", b.p, b.n, 8, 0}, {"archive/data/0", W, sizeof W, 0, 0}}, 2},
        {"data.pkl encrypted", "archive/data.pkl is encrypted",
         {{"archive/data.pkl", b.p, b.n, 0, 1}, {"archive/data/0", W, sizeof W, 0, 0}}, 2},
        {"storage entry compressed", "archive/data/0 is compressed",
         {{"archive/data.pkl", b.p, b.n, 0, 0}, {"archive/data/0", W, sizeof W, 8, 0}}, 2},
        {"two top folders with data.pkl", "two data.pkl entries",
         {{"a/data.pkl", b.p, b.n, 0, 0}, {"b/data.pkl", b.p, b.n, 0, 0}, {"a/data/0", W, sizeof W, 0, 0}}, 3},
        {"data.pkl outside any folder", "no <top>/data.pkl",
         {{"data.pkl", b.p, b.n, 0, 0}, {"data/0", W, sizeof W, 0, 0}}, 2},
        {"no data.pkl at all", "no <top>/data.pkl", {{"archive/other", b.p, b.n, 0, 0}}, 1},
        {"byteorder big", "byteorder is \"big\"",
         {{"archive/data.pkl", b.p, b.n, 0, 0}, {"archive/byteorder", "big", 3, 0, 0}, {"archive/data/0", W, sizeof W, 0, 0}}, 3},
        {"duplicate entry names", "duplicate zip entry archive/data/0",
         {{"archive/data.pkl", b.p, b.n, 0, 0}, {"archive/data/0", W, sizeof W, 0, 0}, {"archive/data/0", W, sizeof W, 0, 0}}, 3},
    };
    for (size_t i = 0; i < sizeof z / sizeof z[0]; i++) {
        tmp_path(p, sizeof p, "hand_zip.pth");
        CHECK(zip_write(p, z[i].e, z[i].n) == 0);
        expect_refused(z[i].what, p, z[i].expect);
    }
    buf_free(&b);
}

// ---- G. tensors the configuration does not accept ------------------------------------------

static void config_refusals(const char *tiny) {
    struct {
        const char *what, *options, *expect;
    } c[] = {
        {"missing tensor", "--drop mask_decoder.iou_token.weight", "missing tensor mask_decoder.iou_token.weight"},
        {"missing encoder block tensor", "--drop image_encoder.blocks.2.attn.proj.bias",
         "missing tensor image_encoder.blocks.2.attn.proj.bias"},
        {"unexpected tensor", "--add image_encoder.blocks.0.attn.extra.weight=4,4",
         "unexpected tensor image_encoder.blocks.0.attn.extra.weight"},
        {"inconsistent shape", "--reshape image_encoder.blocks.1.mlp.lin2.weight=128,511",
         "tensor image_encoder.blocks.1.mlp.lin2.weight has shape (128, 511) but the configuration implies (128, 512)"},
        {"rel-pos head dim inconsistent", "--reshape image_encoder.blocks.2.attn.rel_pos_w=27,32",
         "image_encoder.blocks.2.attn.rel_pos_w has shape (27, 32)"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char p[900], cmd[2200], err[1024] = "";
        tmp_path(p, sizeof p, "config.pth");
        snprintf(cmd, sizeof cmd, "python3 tests/core/make_pth.py '%s' '%s' %s", tiny, p, c[i].options);
        if (system(cmd) != 0) {
            report(0, "%s: make_pth.py %s failed", c[i].what, c[i].options);
            continue;
        }
        TensorMap m;
        SamConfig cfg;
        if (checkpoint_read(p, &m, err, sizeof err) != 0) {
            report(0, "%s: checkpoint_read refused the file itself: %s", c[i].what, err);
            continue;
        }
        int rc = sam_config_from_tensors(&m, &cfg, err, sizeof err);
        report(rc == -1 && strstr(err, p) && strstr(err, c[i].expect) && !strchr(err, '\n'),
               "%s: sam_config_from_tensors refuses: %s", c[i].what, err);
        tmap_free(&m);
    }
    char p[900];
    tmp_path(p, sizeof p, "compressed.pth");
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "python3 tests/core/make_pth.py '%s' '%s' --compress", tiny, p);
    if (system(cmd) == 0) expect_refused("make_pth.py --compress (deflated data.pkl)", p, "is compressed (method 8)");
    else report(0, "make_pth.py --compress failed");
}

// ---- housekeeping --------------------------------------------------------------------------

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

// Mappings of files under tmp_dir or the fixtures still held (there must be none).
static int count_maps(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) n += strstr(line, ".pth") != NULL;
    fclose(f);
    return n;
}

static void remove_tmp(void) {
    DIR *d = opendir(tmp_dir);
    if (!d) return;
    struct dirent *e;
    char p[1200];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", tmp_dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(tmp_dir);
}

int main(int argc, char **argv) {
    (void)argc;
    find_build_dir(argv[0]);
    char p[900], tiny[800];
    snprintf(p, sizeof p, "%s/tmp", build_dir);
    mkdir(p, 0755);
    if (mkdir(tmp_dir, 0755) != 0 && errno != EEXIST) {
        report(0, "cannot create %s: %s", tmp_dir, strerror(errno));
        return 1;
    }
    snprintf(tiny, sizeof tiny, "%s/fixtures/sam-golden/tiny/model.pth", build_dir);
    FILE *f = fopen(tiny, "rb");
    if (!f) {
        report(0, "cannot open the fixture %s (make fixtures)", tiny);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    orig_size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    orig = xmalloc(orig_size);
    CHECK(fread(orig, 1, orig_size, f) == orig_size);
    fclose(f);
    if (parse_layout() != 0 || !entry("/data.pkl") || !entry("/data/0")) {
        report(0, "the tiny fixture's zip layout is not the one expected");
        return 1;
    }
    tmp_path(work_path, sizeof work_path, "work.pth");
    CHECK(write_file(work, orig, orig_size) == 0);
    wbase = orig;
    wfd = open(work, O_WRONLY);
    CHECK(wfd >= 0);
    int fds = count_fds();

    TensorMap m;
    char err[1024] = "";
    int ok = checkpoint_read(work, &m, err, sizeof err) == 0 && m.count == 202;
    report(ok, "control: the unmodified working copy reads (%d tensors) %s", m.count, err);
    if (ok) tmap_free(&m);

    not_checkpoints();
    truncations();
    directory_fields();
    pickle_patches();
    random_sweeps();
    hand_built();
    config_refusals(tiny);

    // Tiny error buffers: truncated, terminated, never overrun (ASan would see it).
    tmp_path(p, sizeof p, "missing.pth");
    char small[8];
    memset(small, 'z', sizeof small);
    int rc = checkpoint_read(p, &m, small, sizeof small);
    report(rc == -1 && memchr(small, 0, sizeof small) != NULL, "an 8-byte error buffer is truncated and terminated: \"%s\"", small);
    rc = checkpoint_read(p, &m, small, 1);
    report(rc == -1 && small[0] == 0, "a 1-byte error buffer holds the empty string");

    report(count_fds() == fds, "no file descriptor leaked (%d open before, %d after)", fds, count_fds());
    report(count_maps() == 0, "no checkpoint left mapped (%d mappings)", count_maps());
    close(wfd);
    free(orig);
    remove_tmp();
    return test_exit_status();
}
