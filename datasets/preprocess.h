// Pre-processing as SamPredictor does it, on the host.
// ref: segment_anything/utils/transforms.py ResizeLongestSide; modeling/sam.py Sam.preprocess
#ifndef SAM_PREPROCESS_H
#define SAM_PREPROCESS_H

#include <stdint.h>

// ref: ResizeLongestSide.get_preprocess_shape: scale the long side to target, round half up.
void sam_preprocess_shape(int h, int w, int target, int *new_h, int *new_w);

// ref: ResizeLongestSide.apply_image: PIL's bilinear resize of uint8 RGB (antialiased when
// shrinking, PIL's fixed-point arithmetic), bit-exact with Pillow. rgb is (h, w, 3); out is
// (new_h, new_w, 3) and must hold new_h * new_w * 3 bytes.
void sam_resize_rgb(const uint8_t *rgb, int h, int w, uint8_t *out, int new_h, int new_w);

// ref: Sam.preprocess: (x - pixel_mean) / pixel_std in float32, channels first, zero padding
// at the bottom and right to size x size. rgb (h, w, 3); out (3, size, size).
void sam_normalize_pad(const uint8_t *rgb, int h, int w, int size, float *out);

// ref: ResizeLongestSide.apply_coords: (x, y) in original pixels -> resized frame.
// Computed in double as the official numpy code, returned as float32 as torch.as_tensor does.
void sam_apply_coords(double x, double y, int orig_h, int orig_w, int target, float *out_x,
                      float *out_y);

// ref: SamPredictor.predict + PromptEncoder.forward: the sparse prompt of one prediction.
// points (n_points, 2) in original pixels with labels 1/0; box (4) or NULL. Writes, in the
// resized frame, the points, then a padding point (label -1) when there is no box, then the
// box corners (labels 2, 3). coords holds 2 * (n_points + 2) floats, labels n_points + 2.
// Returns the number of prompt points t.
int sam_build_prompt(const double *points, const int *point_labels, int n_points,
                     const double *box, int orig_h, int orig_w, int target, float *coords,
                     int32_t *labels);

#endif
