/* Split log lines into fields without a regex engine: the compiled fast path of
 * pipelines.patterns for formats built only from a few field kinds (combined, common,
 * vhost_combined, nginx main, ...).
 *
 * A format is given as a program of steps: a literal (matched byte for byte) or a field of
 * one of the kinds below, each field followed by a literal whose first byte the field
 * cannot hold (pipelines.patterns checks that before using this module). With that, the
 * format's regex can match a line in one way only, which a greedy left-to-right scan finds:
 * the fields and the match/no-match verdict are the regex's (tested against RE2 with
 * hypothesis in tests/test_fastsplit.py).
 *
 *   kind 1  \S+                    bytes other than space, \t, \n, \f, \r; at least one
 *   kind 2  [^\]]+                 bytes other than ']'; at least one
 *   kind 3  (?:[^"\\]|\\.)*        up to the first '"' not escaped; '\' escapes any byte
 *                                  but '\n' (RE2's '.')
 *   kind 4  \d+|-                  digits, or one '-'
 *   kind 5  \d{1,3}|-              1 to 3 digits, or one '-'
 *   kind 6  \d+                    digits
 * After the last step: with `trailing`, optionally ' ' and anything but \r and \n; then
 * an optional \r, an optional \n, and the end of the line (RE2's `(?: [^\r\n]*)?\r?\n?$`).
 *
 * Lines are UTF-8 (pipelines.lines checks): every byte this scanner compares is ASCII, and
 * the bytes of a multi-byte character are all >= 0x80, so scanning bytes is scanning
 * characters. The scan runs without the GIL.
 *
 * split(steps, trailing, offsets, data, first, count) -> (match, fields)
 *   steps:   tuple of (kind, capture, literal bytes); kind 0 is a literal
 *   offsets: int64 buffer of a large_string array; data: its value buffer
 *   first, count: the slice of the array to split (array offset and length)
 *   match:   bytes, one 0/1 per line
 *   fields:  list of (offsets, data) per captured field: a large_string array's buffers,
 *            empty strings on lines that do not match
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { LITERAL = 0, NONSPACE = 1, BRACKET = 2, QUOTED = 3, DIGITS_OR_DASH = 4,
       STATUS = 5, DIGITS = 6, LAST_KIND = 6 };

typedef struct {
    int kind;
    int capture;
    const char *lit;
    Py_ssize_t lit_len;
} Step;

static inline int is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* 1 when the line matches; spans[2*k], spans[2*k+1] = start and length of capture k */
static int match_line(const unsigned char *s, Py_ssize_t n, const Step *steps, int nsteps,
                      int trailing, int64_t *spans) {
    Py_ssize_t i = 0;
    int cap = 0;
    for (int k = 0; k < nsteps; k++) {
        const Step *st = &steps[k];
        Py_ssize_t start = i;
        switch (st->kind) {
        case LITERAL:
            if (n - i < st->lit_len || memcmp(s + i, st->lit, (size_t)st->lit_len) != 0)
                return 0;
            i += st->lit_len;
            continue;
        case NONSPACE:
            while (i < n && !is_space(s[i])) i++;
            if (i == start) return 0;
            break;
        case BRACKET: {
            const unsigned char *close = memchr(s + i, ']', (size_t)(n - i));
            i = close ? close - s : n;
            if (i == start) return 0;
            break;
        }
        case QUOTED:
            /* the next '"', unless a '\' comes first: memchr scans long fields (user
               agents, referrers) many bytes at a time */
            for (;;) {
                const unsigned char *quote = memchr(s + i, '"', (size_t)(n - i));
                Py_ssize_t stop = quote ? quote - s : n;
                const unsigned char *esc = memchr(s + i, '\\', (size_t)(stop - i));
                if (esc == NULL) {
                    i = stop;
                    break;
                }
                i = esc - s;
                if (i + 1 >= n || s[i + 1] == '\n') return 0;
                i += 2;
            }
            break;
        case DIGITS_OR_DASH:
        case STATUS:
        case DIGITS:
            if (i < n && is_digit(s[i])) {
                Py_ssize_t most = st->kind == STATUS ? 3 : n;
                while (i < n && i - start < most && is_digit(s[i])) i++;
            } else if (st->kind != DIGITS && i < n && s[i] == '-') {
                i++;
            } else {
                return 0;
            }
            break;
        default:
            return 0;
        }
        if (st->capture) {
            spans[2 * cap] = start;
            spans[2 * cap + 1] = i - start;
            cap++;
        }
    }
    if (trailing && i < n && s[i] == ' ') {
        while (i < n && s[i] != '\r' && s[i] != '\n') i++;
    }
    if (i < n && s[i] == '\r') i++;
    if (i < n && s[i] == '\n') i++;
    return i == n;
}

static PyObject *split(PyObject *self, PyObject *args) {
    PyObject *steps_obj;
    int trailing;
    Py_buffer offsets_buf, data_buf;
    Py_ssize_t first, count;
    if (!PyArg_ParseTuple(args, "O!py*y*nn", &PyTuple_Type, &steps_obj, &trailing,
                          &offsets_buf, &data_buf, &first, &count))
        return NULL;

    PyObject *result = NULL, *match = NULL, *fields = NULL;
    Step *steps = NULL;
    int64_t *spans = NULL;
    int64_t *totals = NULL;
    int nsteps = (int)PyTuple_GET_SIZE(steps_obj);
    int ncap = 0;

    const int64_t *offsets = (const int64_t *)offsets_buf.buf;
    const unsigned char *data = (const unsigned char *)data_buf.buf;
    if (first < 0 || count < 0 ||
        (first + count + 1) * (Py_ssize_t)sizeof(int64_t) > offsets_buf.len) {
        PyErr_SetString(PyExc_ValueError, "offsets buffer too short for the slice");
        goto done;
    }
    if (count > 0 && (offsets[first] < 0 || offsets[first + count] > data_buf.len ||
                      offsets[first] > offsets[first + count])) {
        PyErr_SetString(PyExc_ValueError, "offsets outside the data buffer");
        goto done;
    }

    steps = PyMem_Calloc((size_t)(nsteps ? nsteps : 1), sizeof(Step));
    if (steps == NULL) { PyErr_NoMemory(); goto done; }
    for (int k = 0; k < nsteps; k++) {
        PyObject *item = PyTuple_GET_ITEM(steps_obj, k);
        const char *lit;
        Py_ssize_t lit_len;
        if (!PyArg_ParseTuple(item, "iiy#", &steps[k].kind, &steps[k].capture, &lit, &lit_len))
            goto done;
        if (steps[k].kind < LITERAL || steps[k].kind > LAST_KIND) {
            PyErr_SetString(PyExc_ValueError, "unknown step kind");
            goto done;
        }
        steps[k].lit = lit;  /* owned by steps_obj, alive for the call */
        steps[k].lit_len = lit_len;
        if (steps[k].kind != LITERAL && steps[k].capture) ncap++;
    }

    match = PyBytes_FromStringAndSize(NULL, count);
    if (match == NULL) goto done;
    unsigned char *m = (unsigned char *)PyBytes_AS_STRING(match);
    size_t nspans = (size_t)(count ? count : 1) * (size_t)(ncap ? ncap : 1) * 2;
    spans = PyMem_Calloc(nspans, sizeof(int64_t));
    totals = PyMem_Calloc((size_t)(ncap ? ncap : 1), sizeof(int64_t));
    if (spans == NULL || totals == NULL) { PyErr_NoMemory(); goto done; }

    /* pass 1: match every line, note the spans, add up each field's bytes */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < count; r++) {
        int64_t start = offsets[first + r], end = offsets[first + r + 1];
        int64_t *sp = spans + (size_t)r * (size_t)ncap * 2;
        m[r] = (unsigned char)match_line(data + start, (Py_ssize_t)(end - start), steps, nsteps,
                                         trailing, sp);
        if (m[r]) {
            for (int c = 0; c < ncap; c++) {
                sp[2 * c] += start;
                totals[c] += sp[2 * c + 1];
            }
        } else {
            for (int c = 0; c < 2 * ncap; c++) sp[c] = 0;
        }
    }
    Py_END_ALLOW_THREADS

    /* pass 2: one (offsets, data) pair per field */
    fields = PyList_New(ncap);
    if (fields == NULL) goto done;
    for (int c = 0; c < ncap; c++) {
        PyObject *offs = PyBytes_FromStringAndSize(NULL, (count + 1) * (Py_ssize_t)sizeof(int64_t));
        PyObject *vals = offs ? PyBytes_FromStringAndSize(NULL, (Py_ssize_t)totals[c]) : NULL;
        if (vals == NULL) { Py_XDECREF(offs); goto done; }
        int64_t *o = (int64_t *)PyBytes_AS_STRING(offs);
        char *v = PyBytes_AS_STRING(vals);
        Py_BEGIN_ALLOW_THREADS
        int64_t at = 0;
        for (Py_ssize_t r = 0; r < count; r++) {
            const int64_t *sp = spans + ((size_t)r * (size_t)ncap + (size_t)c) * 2;
            o[r] = at;
            if (sp[1]) memcpy(v + at, data + sp[0], (size_t)sp[1]);
            at += sp[1];
        }
        o[count] = at;
        Py_END_ALLOW_THREADS
        PyObject *pair = PyTuple_Pack(2, offs, vals);
        Py_DECREF(offs);
        Py_DECREF(vals);
        if (pair == NULL) goto done;
        PyList_SET_ITEM(fields, c, pair);
    }
    result = PyTuple_Pack(2, match, fields);

done:
    Py_XDECREF(match);
    Py_XDECREF(fields);
    PyMem_Free(steps);
    PyMem_Free(spans);
    PyMem_Free(totals);
    PyBuffer_Release(&offsets_buf);
    PyBuffer_Release(&data_buf);
    return result;
}

/* line_offsets(data) -> bytes: the int64 offsets of a large_string array of the lines of
 * `data`, each line with its '\n': 0, then the end of every line; a last line without
 * '\n' (or no line at all) ends at len(data). NumPy's `flatnonzero(data == 10)` computes
 * the same through a byte mask as large as the data, 5x slower. */
static PyObject *line_offsets(PyObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf))
        return NULL;
    const char *data = (const char *)buf.buf;
    const char *end = data + buf.len;
    Py_ssize_t newlines = 0;
    Py_BEGIN_ALLOW_THREADS
    for (const char *p = data; p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        newlines++;
    Py_END_ALLOW_THREADS
    /* a last line without its newline, or no line at all, ends at len(data) */
    int tail = buf.len == 0 || data[buf.len - 1] != '\n';
    PyObject *out = PyBytes_FromStringAndSize(
        NULL, (newlines + tail + 1) * (Py_ssize_t)sizeof(int64_t));
    if (out == NULL) { PyBuffer_Release(&buf); return NULL; }
    int64_t *o = (int64_t *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    o[0] = 0;
    const char *p = data;
    for (Py_ssize_t k = 1; k <= newlines; k++, p++) {
        p = memchr(p, '\n', (size_t)(end - p));
        o[k] = (int64_t)(p - data) + 1;
    }
    if (tail) o[newlines + 1] = (int64_t)buf.len;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return out;
}

static PyMethodDef methods[] = {
    {"split", split, METH_VARARGS,
     "split(steps, trailing, offsets, data, first, count) -> (match, [(offsets, data), ...])"},
    {"line_offsets", line_offsets, METH_VARARGS,
     "line_offsets(data) -> int64 offsets of the lines of data, each with its newline"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastsplit",
    "Split log lines into fields for formats of a few field kinds (see the C source).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__fastsplit(void) { return PyModule_Create(&module); }
