// The synthetic COCO-format subset: the evaluation's default dataset when no COCO path is
// given. Deterministic from (seed, images): the same files on every machine with this build.
//   <root>/annotations/instances_<slice>.json   COCO instances format (info, licenses,
//                                               images, annotations, categories)
//   <root>/<slice>/<12-digit id>.jpg            JPEG (TurboJPEG, quality 90, 4:2:0)
// Images have COCO-like sizes (640x480, 480x640, 640x427, 500x375, ...), textured
// backgrounds and 1-20 objects each, every object a distinct saturated colour with its own
// texture and no shared pixels with any other object, so the painted pixels are exactly the
// annotation's mask: polygons (triangles, quadrilaterals, stars, blobs), ellipses and discs
// (as polygons), arcs (C shapes, centre of mass outside), multi-part objects (several
// polygons) and crowd regions (clusters of dots, iscrowd 1, uncompressed RLE). Some objects
// are tiny (COCO "small") and some are clipped by the image border; about one image in 25 is
// a grayscale JPEG, as some of COCO's are.
#ifndef SAM_DATA_SYNTH_H
#define SAM_DATA_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#define SYNTH_VERSION 1
#define SYNTH_DEFAULT_IMAGES 128
#define SYNTH_DEFAULT_SEED 0
#define SYNTH_DEFAULT_SLICE "val2017"

typedef struct {
    int n_images;       // >= 1
    uint64_t seed;
    const char *slice;  // NULL = SYNTH_DEFAULT_SLICE
} SynthConfig;

// Writes the subset under root (folders created; existing files of the same names replaced;
// the JSON is written last, through a temporary file, so an interrupted run leaves no valid
// annotation file). Returns 0, or -1 with one error line naming the file.
int synth_generate(const char *root, const SynthConfig *cfg, char *err, size_t err_len);

// Generates unless root already holds a complete subset made with the same version, seed and
// image count (recorded in the JSON's "info"). Sets *generated to 1 if it wrote files.
int synth_ensure(const char *root, const SynthConfig *cfg, int *generated, char *err,
                 size_t err_len);

// The "info.description" string that identifies a subset.
void synth_description(const SynthConfig *cfg, char *buf, size_t len);

#endif
