// Read-only view of a zip archive of stored entries (the container torch.save writes), mapped
// into memory once so a 2.5 GB vit_h checkpoint is neither read twice nor copied whole.
// Every offset and size is validated against the file before use; nothing here trusts the file.
#ifndef SAM_ZIPREAD_H
#define SAM_ZIPREAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name;        // NUL-terminated (names holding a NUL byte are refused)
    uint64_t offset;   // of the entry's data in the file (after its local header)
    uint64_t size;     // compressed size = bytes at offset (for a stored entry, the data size)
    uint64_t usize;    // uncompressed size
    uint16_t method;   // 0 stored, 8 deflate, ...
    uint16_t flags;    // general purpose bits (bit 0: encrypted)
} ZipEntry;

typedef struct {
    const uint8_t *data;  // the mapped file (NULL for an empty file)
    size_t size;
    ZipEntry *entries;    // sorted by name, names unique
    size_t count;
} ZipArchive;

// Maps path and reads its central directory (ZIP64 records included). Returns 0, or -1 with a
// one-line message (without the path) in err; on failure *z holds nothing to close.
int zip_open(ZipArchive *z, const char *path, char *err, size_t err_len);

// The entry named exactly name, or NULL.
const ZipEntry *zip_find(const ZipArchive *z, const char *name);

// The bytes of a stored, unencrypted entry, or NULL with err ("entry X is compressed ...").
const uint8_t *zip_stored_data(const ZipArchive *z, const ZipEntry *e, char *err, size_t err_len);

void zip_close(ZipArchive *z);

#endif
