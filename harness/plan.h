// What a run does: stages x models x batch sizes over one dataset, with limits. Read from an
// experiment definition file (experiments/*.json, format in harness/README.md) and/or flags,
// stored in the run's row as JSON (the resolved form) so `run --resume` can finish it.
#ifndef WF_PLAN_H
#define WF_PLAN_H

#include <cjson/cJSON.h>

// The waterfall order of design.md section 2; a stage not listed sorts after these.
extern const char *const WATERFALL_ORDER[];
extern const int WATERFALL_COUNT;
int waterfall_index(const char *stage);

typedef struct {
    char *label;  // the model's name in reports: "vit_b", or the left side of "label=spec"
    char *spec;   // weights: "synthetic:vit_b" or a checkpoint path
} ModelSpec;

typedef struct {
    char *name;           // definition name ("default", file stem, or "flags")
    char **stages;        // in waterfall order after plan_resolve
    int n_stages;
    ModelSpec *models;
    int n_models;
    int *batch_sizes;
    int n_batch_sizes;
    char *coco;           // COCO-layout folder; NULL: the default synthetic subset
    char *slice;          // "val2017"
    int limit;            // images per experiment, 0: all
    int warmup;           // warm-up repetitions of the first batch
    double timeout_s;     // per experiment
    char *checkpoint_dir; // where vit_b/l/h checkpoints are found; NULL: synthetic weights
    char *stage_dir;      // where sam-<stage> executables are; NULL: beside waterfall
    // Timing passes (harness/PROTOCOL.md): the stage keeps making timed passes over the
    // subset while (batches < min_batches, or noise > target_noise with batches < 4 *
    // min_batches) and passes < max_passes.
    int min_batches, max_passes;
    double target_noise;
    // The accuracy gate's agreement floor per precision (the stage's choices.precision):
    // keys and values, WF_DEFAULT_FLOORS unless the experiment file states its own.
    char **floor_keys;
    double *floor_values;
    int n_floors;
} Plan;

// Defaults of the timing passes and the agreement floors (harness/README.md explains them).
#define WF_DEFAULT_MIN_BATCHES 10
#define WF_DEFAULT_MAX_PASSES 8
#define WF_DEFAULT_TARGET_NOISE 0.02
#define WF_DEFAULT_FLOORS "{\"fp32\": 0.999, \"bf16\": 0.96, \"int8\": 0.95}"

void plan_init(Plan *p);
void plan_free(Plan *p);
// Fills p from a definition (JSON object). Fields absent keep their value. Returns 0 or -1
// with err.
int plan_from_json(Plan *p, const cJSON *j, const char *source, char *err, size_t err_len);
int plan_load_file(Plan *p, const char *path, char *err, size_t err_len);
// Comma-separated list setters used by flags.
void plan_set_stages(Plan *p, const char *csv);
void plan_set_models(Plan *p, const char *csv);
int plan_set_batch_sizes(Plan *p, const char *csv);
// Expands "gpu" (every built GPU stage) and "all", orders stages as the waterfall, turns
// model names into weight specs (checkpoint_dir or synthetic), fills defaults. Returns 0 or -1.
int plan_resolve(Plan *p, char *err, size_t err_len);
// The resolved plan as JSON (caller frees with cJSON's free).
char *plan_to_json(const Plan *p);
// The folder holding the stage executables.
const char *plan_stage_dir(const Plan *p);
// Path of sam-<stage>.
void plan_stage_path(const Plan *p, const char *stage, char *buf, size_t len);
// Sets the agreement floors from a JSON object {"precision": floor in (0, 1], ...}. Returns 0
// or -1 with err.
int plan_set_floors(Plan *p, const cJSON *obj, const char *source, char *err, size_t err_len);
// The floor for a precision from a plan_json's "agreement_floor" (NaN when it names none;
// the defaults when the plan has no such key, as runs stored before schema 4).
double plan_json_floor(const char *plan_json, const char *precision);
// The floor of a stage: the one named after its linear-layer format when that is not dense
// and the floors name it ("int8": dynamic int8 is a precision of the encoder's linears, while
// the stage's precision choice stays bf16), else the one of its precision. *key is set to the
// key used (NaN and NULL when neither has a floor).
double plan_json_stage_floor(const char *plan_json, const char *precision, const char *linear, const char **key);
// "bf16 0.96, fp32 0.999, int8 0.95" from a plan_json, for reports.
void plan_json_floors_text(const char *plan_json, char *buf, size_t len);

// The reference stage of design.md section 4: fp32 when the plan has it, else cpu, else the
// first stage.
const char *plan_reference_stage(const Plan *p);

#endif
