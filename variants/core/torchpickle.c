// ref: CPython Lib/pickle.py (_Unpickler.load_* and its stack/metastack discipline) and
// Lib/pickletools.py (the opcode table); torch/serialization.py (_save's persistent_id:
// ('storage', storage_type, key, location, numel)) and torch/_utils.py _rebuild_tensor_v2.
//
// Values live in an arena freed at once, so a failure anywhere frees everything without
// bookkeeping, and memo entries may share values freely. The machine is a loop over opcodes;
// nothing recurses, so no nesting depth can exhaust the C stack.
#include "torchpickle.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"

#define MAX_DIM_SIZE (INT64_C(1) << 31)    // one dimension; SAM's largest is 5120
#define MAX_OFFSET (INT64_C(1) << 62)      // offsets, strides, numel: keeps sums overflow-free

size_t torch_dtype_size(TorchDtype t) { return t == TP_FLOAT32 ? 4 : 2; }
const char *torch_dtype_name(TorchDtype t) {
    return t == TP_FLOAT32 ? "float32" : t == TP_FLOAT16 ? "float16" : "bfloat16";
}

// ---- values --------------------------------------------------------------------------------

typedef enum { V_NONE, V_BOOL, V_INT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR } Kind;
typedef enum { G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_STORAGE } GlobalKind;

typedef struct Value Value;
typedef struct Item {
    Value *key, *val;  // key NULL in a list
    struct Item *next;
} Item;

struct Value {
    Kind kind;
    union {
        int64_t i;                                                   // V_BOOL, V_INT
        struct { const char *s; uint32_t len; } str;                 // V_STR, into the pickle
        struct { Value **v; uint32_t n; } tup;                       // V_TUPLE
        struct { Item *head, *tail; } seq;                           // V_LIST, V_DICT (in order)
        struct { GlobalKind g; TorchDtype dtype; } glob;             // V_GLOBAL
        struct { TorchDtype dtype; const Value *key; int64_t numel; } sto;  // V_STORAGE
        struct { const Value *sto; int64_t offset; int ndim; int64_t shape[8], stride[8]; } ten;
    };
};

typedef struct Block {
    struct Block *next;
    size_t used, cap;
    max_align_t data[];
} Block;

typedef struct {
    const uint8_t *p;
    size_t n, pos, op_pos;
    uint8_t op;
    Block *arena;
    Value **stack;
    size_t sp, stack_cap;
    size_t *marks;  // stack heights at each MARK (pickle.py's metastack)
    size_t nmarks, marks_cap;
    Value **memo;
    size_t memo_cap;
    char *err;
    size_t err_len;
} VM;

static void *arena_alloc(VM *vm, size_t bytes) {
    bytes = (bytes + 15) & ~(size_t)15;
    Block *b = vm->arena;
    if (!b || b->cap - b->used < bytes) {
        size_t cap = bytes > 65536 ? bytes : 65536;
        b = xmalloc(sizeof *b + cap);
        b->next = vm->arena, b->used = 0, b->cap = cap;
        vm->arena = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += bytes;
    return p;
}

static Value *new_value(VM *vm, Kind k) {
    Value *v = arena_alloc(vm, sizeof *v);
    memset(v, 0, sizeof *v);
    v->kind = k;
    return v;
}

// ---- errors --------------------------------------------------------------------------------

static const char *opcode_name(uint8_t op) {
    switch (op) {
    case '(': return "MARK";            case '.': return "STOP";
    case '0': return "POP";             case '1': return "POP_MARK";
    case '2': return "DUP";             case 'F': return "FLOAT";
    case 'I': return "INT";             case 'J': return "BININT";
    case 'K': return "BININT1";         case 'L': return "LONG";
    case 'M': return "BININT2";         case 'N': return "NONE";
    case 'P': return "PERSID";          case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";          case 'S': return "STRING";
    case 'T': return "BINSTRING";       case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";         case 'X': return "BINUNICODE";
    case 'a': return "APPEND";          case 'b': return "BUILD";
    case 'c': return "GLOBAL";          case 'd': return "DICT";
    case '}': return "EMPTY_DICT";      case 'e': return "APPENDS";
    case 'g': return "GET";             case 'h': return "BINGET";
    case 'i': return "INST";            case 'j': return "LONG_BINGET";
    case 'l': return "LIST";            case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";             case 'p': return "PUT";
    case 'q': return "BINPUT";          case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";         case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";     case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";        case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";  case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";         case 0x82: return "EXT1";
    case 0x83: return "EXT2";           case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";         case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";         case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";       case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";          case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";      case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";      case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";   case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";          case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";    case 0x98: return "READONLY_BUFFER";
    default: return NULL;
    }
}

__attribute__((format(printf, 2, 3))) static int bad(VM *vm, const char *fmt, ...) {
    int k = snprintf(vm->err, vm->err_len, "byte %zu: ", vm->op_pos);
    if (k >= 0 && (size_t)k < vm->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(vm->err + k, vm->err_len - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

// ---- reading the opcode stream -------------------------------------------------------------

static int need(VM *vm, size_t k) {
    if (vm->n - vm->pos < k)
        return bad(vm, "pickle truncated inside %s (needs %zu more bytes, %zu left)",
                   opcode_name(vm->op), k, vm->n - vm->pos);
    return 0;
}

static uint64_t le(const uint8_t *p, int k) {
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int arg_uint(VM *vm, int k, uint64_t *v) {
    if (need(vm, (size_t)k)) return -1;
    *v = le(vm->p + vm->pos, k);
    vm->pos += (size_t)k;
    return 0;
}

// ---- stack ---------------------------------------------------------------------------------

static size_t stack_base(const VM *vm) { return vm->nmarks ? vm->marks[vm->nmarks - 1] : 0; }

static int push(VM *vm, Value *v) {
    if (vm->sp == vm->stack_cap) {
        vm->stack_cap = vm->stack_cap ? 2 * vm->stack_cap : 64;
        vm->stack = xrealloc(vm->stack, vm->stack_cap * sizeof *vm->stack);
    }
    vm->stack[vm->sp++] = v;
    return 0;
}

static Value *pop(VM *vm) {
    if (vm->sp <= stack_base(vm)) {
        bad(vm, "pickle stack underflow in %s", opcode_name(vm->op));
        return NULL;
    }
    return vm->stack[--vm->sp];
}

static Value *top(VM *vm) {
    if (vm->sp <= stack_base(vm)) {
        bad(vm, "pickle stack underflow in %s", opcode_name(vm->op));
        return NULL;
    }
    return vm->stack[vm->sp - 1];
}

// Pops back to the last MARK: the items are stack[*first .. *first + *n).
static int pop_mark(VM *vm, size_t *first, size_t *n) {
    if (!vm->nmarks) return bad(vm, "%s without a MARK", opcode_name(vm->op));
    size_t m = vm->marks[--vm->nmarks];
    *first = m, *n = vm->sp - m;
    vm->sp = m;
    return 0;
}

static Value *make_tuple(VM *vm, Value **items, size_t n) {
    Value *t = new_value(vm, V_TUPLE);
    t->tup.n = (uint32_t)n;
    t->tup.v = arena_alloc(vm, (n ? n : 1) * sizeof *items);
    if (n) memcpy(t->tup.v, items, n * sizeof *items);
    return t;
}

static void seq_add(VM *vm, Value *seq, Value *key, Value *val) {
    Item *it = arena_alloc(vm, sizeof *it);
    it->key = key, it->val = val, it->next = NULL;
    if (seq->seq.tail) seq->seq.tail->next = it;
    else seq->seq.head = it;
    seq->seq.tail = it;
}

// ---- memo ----------------------------------------------------------------------------------

static int memo_put(VM *vm, uint64_t idx) {
    // The pickler numbers memo entries from 0 as it goes, so an index beyond the pickle's
    // length cannot be genuine; this bounds the memo's memory by the pickle's size.
    if (idx >= vm->n) return bad(vm, "implausible memo index %llu", (unsigned long long)idx);
    Value *v = top(vm);
    if (!v) return -1;
    if (idx >= vm->memo_cap) {
        size_t cap = vm->memo_cap ? vm->memo_cap : 256;
        while (cap <= idx) cap *= 2;
        if (cap > vm->n) cap = vm->n;
        vm->memo = xrealloc(vm->memo, cap * sizeof *vm->memo);
        memset(vm->memo + vm->memo_cap, 0, (cap - vm->memo_cap) * sizeof *vm->memo);
        vm->memo_cap = cap;
    }
    vm->memo[idx] = v;
    return 0;
}

static int memo_get(VM *vm, uint64_t idx) {
    if (idx >= vm->memo_cap || !vm->memo[idx])
        return bad(vm, "memo index %llu is not defined", (unsigned long long)idx);
    return push(vm, vm->memo[idx]);
}

// ---- globals and calls ---------------------------------------------------------------------

static int str_is(const Value *v, const char *s) {
    return v->kind == V_STR && v->str.len == strlen(s) && memcmp(v->str.s, s, v->str.len) == 0;
}

static int op_global(VM *vm) {
    const uint8_t *mod = vm->p + vm->pos, *end = vm->p + vm->n;
    const uint8_t *nl1 = memchr(mod, '\n', (size_t)(end - mod));
    const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
    if (!nl2) return bad(vm, "pickle truncated inside GLOBAL");
    const char *name = (const char *)nl1 + 1;
    int mlen = (int)(nl1 - mod), nlen = (int)(nl2 - nl1 - 1);
    vm->pos = (size_t)(nl2 + 1 - vm->p);
#define IS(m, s) (mlen == (int)strlen(m) && nlen == (int)strlen(s) && \
                  memcmp(mod, m, (size_t)mlen) == 0 && memcmp(name, s, (size_t)nlen) == 0)
    Value *g = new_value(vm, V_GLOBAL);
    if (IS("collections", "OrderedDict")) g->glob.g = G_ORDERED_DICT;
    else if (IS("torch._utils", "_rebuild_tensor_v2")) g->glob.g = G_REBUILD_TENSOR_V2;
    else if (IS("torch", "FloatStorage")) g->glob.g = G_STORAGE, g->glob.dtype = TP_FLOAT32;
    else if (IS("torch", "HalfStorage")) g->glob.g = G_STORAGE, g->glob.dtype = TP_FLOAT16;
    else if (IS("torch", "BFloat16Storage")) g->glob.g = G_STORAGE, g->glob.dtype = TP_BFLOAT16;
    else
        return bad(vm, "unsupported pickle global %.*s.%.*s", mlen > 100 ? 100 : mlen,
                   (const char *)mod, nlen > 100 ? 100 : nlen, name);
#undef IS
    return push(vm, g);
}

static int as_int(VM *vm, const Value *v, int64_t lo, int64_t hi, const char *what, int64_t *out) {
    if (v->kind != V_INT && v->kind != V_BOOL) return bad(vm, "%s is not an integer", what);
    if (v->i < lo || v->i > hi)
        return bad(vm, "%s %lld is out of range [%lld, %lld]", what, (long long)v->i, (long long)lo,
                   (long long)hi);
    *out = v->i;
    return 0;
}

// ('storage', torch.<T>Storage, key, location, numel)  ref: torch/serialization.py _save
static int op_binpersid(VM *vm) {
    Value *pid = pop(vm);
    if (!pid) return -1;
    Value **a = pid->tup.v;
    if (pid->kind != V_TUPLE || pid->tup.n != 5 || !str_is(a[0], "storage"))
        return bad(vm, "persistent id is not ('storage', type, key, location, numel)");
    if (a[1]->kind != V_GLOBAL || a[1]->glob.g != G_STORAGE)
        return bad(vm, "persistent id names no storage type");
    if (a[2]->kind != V_STR || a[2]->str.len == 0 || a[2]->str.len > 64 ||
        memchr(a[2]->str.s, 0, a[2]->str.len) || memchr(a[2]->str.s, '/', a[2]->str.len))
        return bad(vm, "storage key is not a short string");
    if (a[3]->kind != V_STR) return bad(vm, "storage location is not a string");
    Value *s = new_value(vm, V_STORAGE);
    s->sto.dtype = a[1]->glob.dtype;
    s->sto.key = a[2];
    if (as_int(vm, a[4], 0, MAX_OFFSET, "storage numel", &s->sto.numel)) return -1;
    return push(vm, s);
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
//                    [, metadata])  ref: torch/_utils.py
static Value *rebuild_tensor(VM *vm, const Value *args) {
    Value **a = args->tup.v;
    if (args->tup.n != 6 && args->tup.n != 7) {
        bad(vm, "_rebuild_tensor_v2 called with %u arguments, expected 6 or 7", args->tup.n);
        return NULL;
    }
    if (a[0]->kind != V_STORAGE) {
        bad(vm, "_rebuild_tensor_v2's storage is not a persistent storage");
        return NULL;
    }
    Value *t = new_value(vm, V_TENSOR);
    t->ten.sto = a[0];
    if (as_int(vm, a[1], 0, MAX_OFFSET, "storage offset", &t->ten.offset)) return NULL;
    if (a[2]->kind != V_TUPLE || a[3]->kind != V_TUPLE || a[2]->tup.n != a[3]->tup.n) {
        bad(vm, "_rebuild_tensor_v2's size and stride are not tuples of one length");
        return NULL;
    }
    if (a[2]->tup.n > 8) {
        bad(vm, "tensor has %u dimensions (at most 8 supported)", a[2]->tup.n);
        return NULL;
    }
    t->ten.ndim = (int)a[2]->tup.n;
    for (int i = 0; i < t->ten.ndim; i++)
        if (as_int(vm, a[2]->tup.v[i], 0, MAX_DIM_SIZE, "tensor size", &t->ten.shape[i]) ||
            as_int(vm, a[3]->tup.v[i], 0, MAX_OFFSET, "tensor stride", &t->ten.stride[i]))
            return NULL;
    if (a[4]->kind != V_BOOL && a[4]->kind != V_INT) {
        bad(vm, "_rebuild_tensor_v2's requires_grad is not a bool");
        return NULL;
    }
    if (a[5]->kind != V_DICT || (args->tup.n == 7 && a[6]->kind != V_NONE && a[6]->kind != V_DICT)) {
        bad(vm, "_rebuild_tensor_v2's hooks or metadata are not dictionaries");
        return NULL;
    }
    return t;
}

static int op_reduce(VM *vm) {
    Value *args = pop(vm), *fn = args ? pop(vm) : NULL;
    if (!fn) return -1;
    if (args->kind != V_TUPLE) return bad(vm, "REDUCE arguments are not a tuple");
    if (fn->kind != V_GLOBAL) return bad(vm, "REDUCE calls something that is not a global");
    Value *r = NULL;
    switch (fn->glob.g) {
    case G_ORDERED_DICT:
        if (args->tup.n != 0) return bad(vm, "OrderedDict called with arguments");
        r = new_value(vm, V_DICT);
        break;
    case G_REBUILD_TENSOR_V2:
        if (!(r = rebuild_tensor(vm, args))) return -1;
        break;
    case G_STORAGE:
        return bad(vm, "REDUCE calls torch.%sStorage", fn->glob.dtype == TP_FLOAT32 ? "Float"
                       : fn->glob.dtype == TP_FLOAT16 ? "Half" : "BFloat16");
    }
    return push(vm, r);
}

// ---- the machine ---------------------------------------------------------------------------

static int step(VM *vm, int *stop) {
    uint64_t u;
    size_t first = 0, n = 0;
    Value *v, *k, *d;
    vm->op_pos = vm->pos;
    vm->op = vm->p[vm->pos++];
    switch (vm->op) {
    case 0x80:  // PROTO
        if (arg_uint(vm, 1, &u)) return -1;
        if (u < 2 || u > 5) return bad(vm, "unsupported pickle protocol %llu", (unsigned long long)u);
        return 0;
    case 'c': return op_global(vm);
    case 'q': return arg_uint(vm, 1, &u) ? -1 : memo_put(vm, u);   // BINPUT
    case 'r': return arg_uint(vm, 4, &u) ? -1 : memo_put(vm, u);   // LONG_BINPUT
    case 'h': return arg_uint(vm, 1, &u) ? -1 : memo_get(vm, u);   // BINGET
    case 'j': return arg_uint(vm, 4, &u) ? -1 : memo_get(vm, u);   // LONG_BINGET
    case ')': return push(vm, make_tuple(vm, NULL, 0));            // EMPTY_TUPLE
    case '}': return push(vm, new_value(vm, V_DICT));              // EMPTY_DICT
    case ']': return push(vm, new_value(vm, V_LIST));              // EMPTY_LIST
    case 'N': return push(vm, new_value(vm, V_NONE));              // NONE
    case 0x88:                                                     // NEWTRUE
    case 0x89:                                                     // NEWFALSE
        v = new_value(vm, V_BOOL);
        v->i = vm->op == 0x88;
        return push(vm, v);
    case '(':  // MARK
        if (vm->nmarks == vm->marks_cap) {
            vm->marks_cap = vm->marks_cap ? 2 * vm->marks_cap : 32;
            vm->marks = xrealloc(vm->marks, vm->marks_cap * sizeof *vm->marks);
        }
        vm->marks[vm->nmarks++] = vm->sp;
        return 0;
    case 't':  // TUPLE
        if (pop_mark(vm, &first, &n)) return -1;
        return push(vm, make_tuple(vm, vm->stack + first, n));
    case 0x85: case 0x86: case 0x87:  // TUPLE1..3
        n = (size_t)(vm->op - 0x84);
        if (vm->sp < stack_base(vm) + n) return bad(vm, "pickle stack underflow in %s", opcode_name(vm->op));
        vm->sp -= n;
        return push(vm, make_tuple(vm, vm->stack + vm->sp, n));
    case 'X': case 0x8c:  // BINUNICODE, SHORT_BINUNICODE
        if (arg_uint(vm, vm->op == 'X' ? 4 : 1, &u) || need(vm, (size_t)u)) return -1;
        v = new_value(vm, V_STR);
        v->str.s = (const char *)vm->p + vm->pos;
        v->str.len = (uint32_t)u;
        vm->pos += (size_t)u;
        return push(vm, v);
    case 'J': case 'K': case 'M':  // BININT (signed 32), BININT1, BININT2 (unsigned)
        if (arg_uint(vm, vm->op == 'J' ? 4 : vm->op == 'K' ? 1 : 2, &u)) return -1;
        v = new_value(vm, V_INT);
        v->i = vm->op == 'J' ? (int64_t)(int32_t)(uint32_t)u : (int64_t)u;
        return push(vm, v);
    case 0x8a:  // LONG1: a length byte, then little-endian two's complement
        if (arg_uint(vm, 1, &u)) return -1;
        if (u > 8) return bad(vm, "LONG1 of %llu bytes is out of range", (unsigned long long)u);
        n = (size_t)u;
        if (arg_uint(vm, (int)n, &u)) return -1;
        v = new_value(vm, V_INT);
        if (n && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~UINT64_C(0) << (8 * n);  // sign-extend
        v->i = (int64_t)u;
        return push(vm, v);
    case 'Q': return op_binpersid(vm);
    case 'R': return op_reduce(vm);
    case 'b':  // BUILD: the state_dict's _metadata attribute; not needed to load weights
        if (!(v = pop(vm)) || !(d = top(vm))) return -1;
        if (d->kind != V_DICT) return bad(vm, "BUILD on something other than an OrderedDict");
        return 0;
    case 's':  // SETITEM
        if (!(v = pop(vm)) || !(k = pop(vm)) || !(d = top(vm))) return -1;
        if (d->kind != V_DICT) return bad(vm, "SETITEM on something other than a dict");
        seq_add(vm, d, k, v);
        return 0;
    case 'u':  // SETITEMS
        if (pop_mark(vm, &first, &n) || !(d = top(vm))) return -1;
        if (d->kind != V_DICT) return bad(vm, "SETITEMS on something other than a dict");
        if (n % 2) return bad(vm, "SETITEMS with an odd number of items");
        for (size_t i = 0; i < n; i += 2) seq_add(vm, d, vm->stack[first + i], vm->stack[first + i + 1]);
        return 0;
    case 'a':  // APPEND
        if (!(v = pop(vm)) || !(d = top(vm))) return -1;
        if (d->kind != V_LIST) return bad(vm, "APPEND on something other than a list");
        seq_add(vm, d, NULL, v);
        return 0;
    case 'e':  // APPENDS
        if (pop_mark(vm, &first, &n) || !(d = top(vm))) return -1;
        if (d->kind != V_LIST) return bad(vm, "APPENDS on something other than a list");
        for (size_t i = 0; i < n; i++) seq_add(vm, d, NULL, vm->stack[first + i]);
        return 0;
    case '.':  // STOP
        *stop = 1;
        return 0;
    default: {
        const char *name = opcode_name(vm->op);
        if (name) return bad(vm, "unsupported pickle opcode %s (0x%02x)", name, vm->op);
        return bad(vm, "unknown pickle opcode 0x%02x", vm->op);
    }
    }
}

static int name_ok(const Value *k) {
    if (k->kind != V_STR || k->str.len == 0 || k->str.len > 1023) return 0;
    for (uint32_t i = 0; i < k->str.len; i++)
        if ((unsigned char)k->str.s[i] < 0x20 || k->str.s[i] == 0x7f) return 0;
    return 1;
}

static char *dup_str(const Value *s) {
    char *r = xmalloc(s->str.len + 1u);
    memcpy(r, s->str.s, s->str.len);
    r[s->str.len] = 0;
    return r;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const TorchTensorRef *const *)a)->name, (*(const TorchTensorRef *const *)b)->name);
}

// The state_dict: an OrderedDict of name -> tensor, copied out of the arena.
static int collect(VM *vm, const Value *root, TorchTensorRef **out, int *count) {
    if (root->kind != V_DICT) return bad(vm, "the pickle holds no OrderedDict of tensors");
    int n = 0;
    for (const Item *it = root->seq.head; it; it = it->next) {
        if (!name_ok(it->key)) return bad(vm, "state_dict key %d is not a printable string", n);
        if (it->val->kind != V_TENSOR)
            return bad(vm, "state_dict entry %.*s is not a tensor", (int)it->key->str.len, it->key->str.s);
        if (++n > 1000000) return bad(vm, "more than a million tensors");
    }
    TorchTensorRef *r = xcalloc(n ? (size_t)n : 1, sizeof *r);
    int i = 0;
    for (const Item *it = root->seq.head; it; it = it->next, i++) {
        const Value *t = it->val;
        r[i].name = dup_str(it->key);
        r[i].key = dup_str(t->ten.sto->sto.key);
        r[i].dtype = t->ten.sto->sto.dtype;
        r[i].storage_numel = t->ten.sto->sto.numel;
        r[i].offset = t->ten.offset;
        r[i].ndim = t->ten.ndim;
        memcpy(r[i].shape, t->ten.shape, sizeof r[i].shape);
        memcpy(r[i].stride, t->ten.stride, sizeof r[i].stride);
    }
    // A repeated key would silently replace a tensor in Python; refuse it instead.
    TorchTensorRef **sorted = xmalloc((n ? (size_t)n : 1) * sizeof *sorted);
    for (i = 0; i < n; i++) sorted[i] = &r[i];
    qsort(sorted, (size_t)n, sizeof *sorted, by_name);
    for (i = 1; i < n; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            vm->op_pos = vm->n;
            bad(vm, "tensor %s appears twice in the state_dict", sorted[i]->name);
            free(sorted);
            torch_refs_free(r, n);
            return -1;
        }
    free(sorted);
    *out = r;
    *count = n;
    return 0;
}

int torch_pickle_parse(const uint8_t *p, size_t n, TorchTensorRef **out, int *count, char *err,
                       size_t err_len) {
    *out = NULL;
    *count = 0;
    VM vm = {.p = p, .n = n, .err = err, .err_len = err_len};
    int stop = 0, rc = 0;
    while (!stop && rc == 0) {
        if (vm.pos >= n) {
            vm.op_pos = n;
            rc = bad(&vm, "pickle ends without STOP");
            break;
        }
        rc = step(&vm, &stop);
    }
    if (rc == 0) {
        Value *root = pop(&vm);
        rc = root ? collect(&vm, root, out, count) : -1;
    }
    while (vm.arena) {
        Block *b = vm.arena;
        vm.arena = b->next;
        free(b);
    }
    free(vm.stack);
    free(vm.marks);
    free(vm.memo);
    return rc;
}

void torch_refs_free(TorchTensorRef *refs, int count) {
    for (int i = 0; i < count; i++) {
        free(refs[i].name);
        free(refs[i].key);
    }
    free(refs);
}
