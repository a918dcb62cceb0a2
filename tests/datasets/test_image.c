// Image decoding: the golden fixtures' JPEG decodes identical to Pillow's decoding of it, the
// PNG to the RGB array, masks round-trip through PNG, and bad files give one error line.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/image.h"
#include "common/npy.h"

static int failures;

#define PASS(...) (printf("PASS "), printf(__VA_ARGS__), printf("\n"))
#define FAIL(...) (failures++, printf("FAIL "), printf(__VA_ARGS__), printf("\n"))

static const char *fixtures(void) {
    const char *b = getenv("BUILD");
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/fixtures/sam-golden", b && *b ? b : "build");
    return dir;
}

// Compares a decoded image with an (H, W, 3) uint8 .npy.
static void compare(const char *what, const char *img_path, const char *npy_path) {
    char err[512];
    uint8_t *rgb;
    int h, w;
    if (image_load_rgb(img_path, &rgb, &h, &w, err, sizeof err) != 0) {
        FAIL("%s: %s", what, err);
        return;
    }
    Npy ref;
    if (npy_read(npy_path, &ref, err, sizeof err) != 0) {
        FAIL("%s: %s", what, err);
        free(rgb);
        return;
    }
    if (ref.ndim != 3 || ref.shape[0] != h || ref.shape[1] != w || ref.shape[2] != 3) {
        FAIL("%s: decoded %dx%d, reference shape differs", what, w, h);
    } else {
        size_t n = (size_t)h * w * 3, diff = 0, first = n;
        const uint8_t *r = ref.data;
        for (size_t i = 0; i < n; i++)
            if (rgb[i] != r[i]) {
                if (first == n) first = i;
                diff++;
            }
        if (diff)
            FAIL("%s: %zu of %zu bytes differ (first at pixel %zu: %d vs %d)", what, diff, n,
                 first / 3, rgb[first], r[first]);
        else
            PASS("%s (%dx%d identical)", what, w, h);
    }
    free(rgb);
    npy_free(&ref);
}

static void write_bytes(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(d, 1, n, f) != n) {
        printf("FAIL cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

// A bad file must give -1 and an error naming the file.
static void expect_error(const char *what, const char *path, const char *needle) {
    char err[512] = "";
    uint8_t *rgb = (uint8_t *)1;
    int h, w;
    int r = image_load_rgb(path, &rgb, &h, &w, err, sizeof err);
    if (r == 0) {
        FAIL("%s: decoded without error", what);
        free(rgb);
    } else if (rgb != NULL || !strstr(err, path) || (needle && !strstr(err, needle))) {
        FAIL("%s: error line \"%s\" should name %s%s%s", what, err, path, needle ? " and " : "",
             needle ? needle : "");
    } else {
        PASS("%s (%s)", what, err);
    }
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    uint8_t *d = malloc(*n);
    if (fread(d, 1, *n, f) != *n) {
        free(d);
        d = NULL;
    }
    fclose(f);
    return d;
}

int main(void) {
    char a[600], b[600];
    const char *fx = fixtures();
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "tiny1024" : "tiny";
        char what[64];
        snprintf(a, sizeof a, "%s/%s/image.jpg", fx, name);
        snprintf(b, sizeof b, "%s/%s/image_jpg_decoded.npy", fx, name);
        snprintf(what, sizeof what, "%s image.jpg decodes as Pillow", name);
        compare(what, a, b);
        snprintf(a, sizeof a, "%s/%s/image.png", fx, name);
        snprintf(b, sizeof b, "%s/%s/image_rgb.npy", fx, name);
        snprintf(what, sizeof what, "%s image.png equals image_rgb.npy", name);
        compare(what, a, b);
        snprintf(what, sizeof what, "%s image_rgb.npy loads as an image", name);
        compare(what, b, b);
    }

    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[300];
    snprintf(dir, sizeof dir, "%s/sam-test-image-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        printf("FAIL cannot create a temporary folder\n");
        return 1;
    }

    // Mask PNG round trip: 0/1 in, 0/255 out, read back as gray replicated into RGB.
    {
        int h = 37, w = 53;
        uint8_t *m = malloc((size_t)h * w);
        for (int i = 0; i < h * w; i++) m[i] = (uint8_t)((i * 7919) % 3 == 0);
        snprintf(a, sizeof a, "%s/mask.png", dir);
        uint8_t *rgb;
        int rh, rw;
        char err[512];
        if (image_write_png_gray(a, m, h, w) != 0) FAIL("mask PNG write");
        else if (image_load_rgb(a, &rgb, &rh, &rw, err, sizeof err) != 0) FAIL("mask PNG read: %s", err);
        else {
            int bad = rh != h || rw != w;
            for (int i = 0; !bad && i < h * w; i++)
                bad = rgb[3 * i] != (m[i] ? 255 : 0) || rgb[3 * i + 1] != rgb[3 * i] ||
                      rgb[3 * i + 2] != rgb[3 * i];
            if (bad) FAIL("mask PNG round trip: values differ");
            else PASS("mask PNG round trip (0/255 grayscale, read back as RGB)");
            free(rgb);
        }
        free(m);
    }

    // JPEG writer: decodes to the same size, close to the input.
    {
        int h = 48, w = 64;
        uint8_t *img = malloc((size_t)h * w * 3);
        for (int i = 0; i < h * w * 3; i++) img[i] = (uint8_t)(((i / 3) % w) * 4);
        snprintf(a, sizeof a, "%s/w.jpg", dir);
        char err[512];
        uint8_t *rgb;
        int rh, rw;
        if (image_write_jpeg(a, img, h, w, 95, err, sizeof err) != 0) FAIL("JPEG write: %s", err);
        else if (image_load_rgb(a, &rgb, &rh, &rw, err, sizeof err) != 0) FAIL("JPEG read back: %s", err);
        else {
            int maxd = 0;
            for (int i = 0; i < h * w * 3; i++) {
                int d = abs(rgb[i] - img[i]);
                if (d > maxd) maxd = d;
            }
            if (rh != h || rw != w || maxd > 12) FAIL("JPEG write/read: %dx%d, max diff %d", rw, rh, maxd);
            else PASS("JPEG write/read round trip (max diff %d at quality 95)", maxd);
            free(rgb);
        }
        free(img);
    }

    // Bad files.
    size_t n;
    snprintf(a, sizeof a, "%s/tiny/image.jpg", fx);
    uint8_t *jpg = slurp(a, &n);
    snprintf(a, sizeof a, "%s/tiny/image.png", fx);
    size_t pn;
    uint8_t *png = slurp(a, &pn);
    if (!jpg || !png) {
        printf("FAIL fixtures unreadable under %s\n", fx);
        return 1;
    }
    snprintf(a, sizeof a, "%s/missing.jpg", dir);
    expect_error("missing file refused", a, "cannot open");
    snprintf(a, sizeof a, "%s/empty.jpg", dir);
    write_bytes(a, "", 0);
    expect_error("empty file refused", a, "empty");
    snprintf(a, sizeof a, "%s/text.jpg", dir);
    write_bytes(a, "hello world", 11);
    expect_error("unknown content refused", a, "not a JPEG");
    snprintf(a, sizeof a, "%s/trunc.jpg", dir);
    write_bytes(a, jpg, n / 2);
    expect_error("truncated JPEG refused", a, "truncated");
    snprintf(a, sizeof a, "%s/head.jpg", dir);
    write_bytes(a, jpg, 40);
    expect_error("JPEG cut inside its header refused", a, "truncated JPEG");
    snprintf(a, sizeof a, "%s/trunc.png", dir);
    write_bytes(a, png, pn / 2);
    expect_error("truncated PNG refused", a, "PNG");
    {
        uint8_t *bad = malloc(pn);
        memcpy(bad, png, pn);
        bad[pn / 2] ^= 0x55;  // inside IDAT: CRC mismatch
        snprintf(a, sizeof a, "%s/crc.png", dir);
        write_bytes(a, bad, pn);
        expect_error("PNG with a corrupt chunk refused", a, "PNG");
        free(bad);
    }
    {
        // A forged JPEG header claiming 65500x65500.
        uint8_t *bad = malloc(n);
        memcpy(bad, jpg, n);
        for (size_t i = 0; i + 9 < n; i++)
            if (bad[i] == 0xFF && (bad[i + 1] == 0xC0 || bad[i + 1] == 0xC2)) {
                bad[i + 5] = 0xFF, bad[i + 6] = 0xDC, bad[i + 7] = 0xFF, bad[i + 8] = 0xDC;
                break;
            }
        snprintf(a, sizeof a, "%s/huge.jpg", dir);
        write_bytes(a, bad, n);
        expect_error("JPEG with a huge declared size refused", a, "range");
        free(bad);
    }
    free(jpg);
    free(png);
    // Remove the temporaries (names known, so no recursive delete).
    const char *names[] = {"mask.png", "w.jpg", "empty.jpg", "text.jpg", "trunc.jpg", "head.jpg",
                           "trunc.png", "crc.png", "huge.jpg"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(a, sizeof a, "%s/%s", dir, names[i]);
        remove(a);
    }
    remove(dir);
    return failures ? 1 : 0;
}
