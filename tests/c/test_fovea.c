/* fovea's C API from C: driven by tests/it/capi.rs (which compiles it against the built library and
 * compares its output with the Rust API and the CLI), and run under valgrind.
 *
 *   test_fovea run  CONFIG VIDEO WIDTH HEIGHT FRAMES OUTDIR   stream, file, threads, NV12, errors
 *   test_fovea leak CONFIG VIDEO WIDTH HEIGHT                 a short run for valgrind (any model)
 *   test_fovea soak CONFIG VIDEO WIDTH HEIGHT FRAMES THREADS ROUNDS
 *                                   THREADS threads, each making ROUNDS streams of FRAMES frames
 *                                   one after another (make soak samples the resident memory)
 *
 * Frames come from the ffmpeg CLI (raw RGB24 or NV12 on a pipe). Output files in OUTDIR, one JSON
 * object per frame: {"frame":N,"pts":T,"detections":[[x1,y1,x2,y2,score,class_id,track_id,"label"],...]}
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fovea.h"

static int failures = 0;

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "CHECK failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                 \
            fprintf(stderr, "\n");                                        \
            failures++;                                                   \
        }                                                                 \
    } while (0)

#define EXPECT(call, want)                                                              \
    do {                                                                                \
        fovea_status s_ = (call);                                                       \
        CHECK(s_ == (want), "%s: got %u (%s), expected %u", #call, (unsigned)s_,        \
              fovea_status_str(s_), (unsigned)(want));                                  \
    } while (0)

/* Reads `n` frames of `bytes` each from the ffmpeg CLI. */
static uint8_t *read_frames(const char *video, const char *pix_fmt, size_t bytes, int n) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -i '%s' -frames:v %d -f rawvideo -pix_fmt %s -", video, n, pix_fmt);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    uint8_t *buf = malloc(bytes * (size_t)n);
    size_t got = fread(buf, 1, bytes * (size_t)n, p);
    pclose(p);
    if (got != bytes * (size_t)n) {
        fprintf(stderr, "ffmpeg gave %zu bytes, expected %zu\n", got, bytes * (size_t)n);
        free(buf);
        return NULL;
    }
    return buf;
}

static void write_result(FILE *out, const fovea_result *r) {
    fprintf(out, "{\"frame\":%llu,\"pts\":%.9g,\"detections\":[", (unsigned long long)r->frame, r->pts);
    for (size_t i = 0; i < r->count; i++) {
        const fovea_detection *d = &r->detections[i];
        fprintf(out, "%s[%.9g,%.9g,%.9g,%.9g,%.9g,%u,%lld,\"%s\"]", i ? "," : "", d->x1, d->y1, d->x2, d->y2, d->score,
                d->class_id, (long long)d->track_id, d->label);
    }
    fprintf(out, "]}\n");
}

/* Sends `n` frames through a new stream and writes every result to `out` (which may be NULL). */
static int run_stream(fovea_engine *engine, const uint8_t *frames, int n, uint32_t w, uint32_t h, size_t stride,
                      size_t frame_bytes, uint32_t format, FILE *out) {
    fovea_stream *s = NULL;
    int errors = 0, received = 0;
    if (fovea_stream_create(engine, 10.0, &s) != FOVEA_STATUS_OK) return -1;
    for (int i = 0; i < n; i++) {
        fovea_status st = fovea_stream_send_frame(s, frames + (size_t)i * frame_bytes, frame_bytes, w, h, stride, format, i * 0.1);
        if (st != FOVEA_STATUS_OK) {
            fprintf(stderr, "send_frame %d: %s: %s\n", i, fovea_status_str(st), fovea_stream_last_error(s));
            errors++;
            break;
        }
        fovea_result *r = NULL;
        while (fovea_stream_receive(s, &r) == FOVEA_STATUS_OK) {
            if (out) write_result(out, r);
            fovea_result_destroy(r);
            received++;
        }
    }
    if (fovea_stream_flush(s) != FOVEA_STATUS_OK) errors++;
    fovea_result *r = NULL;
    fovea_status st;
    while ((st = fovea_stream_receive(s, &r)) == FOVEA_STATUS_OK) {
        if (out) write_result(out, r);
        fovea_result_destroy(r);
        received++;
    }
    if (st != FOVEA_STATUS_END_OF_STREAM || r != NULL) errors++;
    fovea_stream_destroy(s);
    return errors ? -1 : received;
}

struct job {
    fovea_engine *engine;
    const uint8_t *frames;
    int n;
    uint32_t w, h;
    char *text;
    size_t len;
    int received;
};

static void *thread_main(void *arg) {
    struct job *j = arg;
    FILE *mem = open_memstream(&j->text, &j->len);
    j->received = run_stream(j->engine, j->frames, j->n, j->w, j->h, (size_t)j->w * 3, (size_t)j->w * j->h * 3,
                             FOVEA_PIXEL_FORMAT_RGB24, mem);
    fclose(mem);
    return NULL;
}

struct file_ctx {
    FILE *out;
    int frames;
    int stop_after;
};

static int32_t on_frame(void *user, const fovea_result *r) {
    struct file_ctx *c = user;
    write_result(c->out, r);
    c->frames++;
    return c->frames >= c->stop_after ? 1 : 0;
}

struct kp_ctx {
    int frames;
    int bad;
    size_t want;
};

/* Every result must carry `want` keypoints (pairs), with a pointer exactly when there are some. */
static int32_t on_keypoints(void *user, const fovea_result *r) {
    struct kp_ctx *k = user;
    k->bad += r->keypoint_count != k->want || (r->keypoint_count > 0) != (r->keypoints != NULL);
    k->bad += (r->keypoint_count > 0) != (r->keypoint_confidences != NULL);
    for (size_t i = 0; i < 2 * r->keypoint_count; i++) k->bad += !(r->keypoints[i] >= 0.0f && r->keypoints[i] < 10000.0f);
    for (size_t i = 0; i < r->keypoint_count; i++)
        k->bad += !(r->keypoint_confidences[i] >= 0.0f && r->keypoint_confidences[i] <= 1.0f);
    return ++k->frames >= 3 ? 1 : 0;
}

struct pose_ctx {
    int frames;
    int dets;
    int bad;
};

/* A pose model's detections: 32 (x, y, confidence) triples each, in the frame, confidence 0..1. */
static int32_t on_pose(void *user, const fovea_result *r) {
    struct pose_ctx *p = user;
    for (size_t i = 0; i < r->count; i++) {
        const fovea_detection *d = &r->detections[i];
        p->dets++;
        p->bad += d->object_keypoint_count != 32 || d->object_keypoints == NULL;
        for (size_t j = 0; d->object_keypoints && j < d->object_keypoint_count; j++) {
            const float *k = d->object_keypoints + 3 * j;
            p->bad += !(k[0] >= 0.0f && k[1] >= 0.0f && k[2] >= 0.0f && k[2] <= 1.0f);
        }
    }
    return ++p->frames >= 3 ? 1 : 0;
}

struct interval_ctx {
    int frames;
    int bad;
};

/* interval = 1: every other frame is predicted (the detector skipped it), the first one not. */
static int32_t on_interval(void *user, const fovea_result *r) {
    struct interval_ctx *c = user;
    c->bad += r->predicted != (uint32_t)(r->frame % 2) || r->frame != (uint64_t)c->frames;
    return ++c->frames >= 6 ? 1 : 0;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc((size_t)n + 1, 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    return b;
}

/* Fails a call on the shared engine from another thread; checks that thread sees its own message. */
static void *fail_on_other_thread(void *engine) {
    struct file_ctx c = {stdout, 0, 1};
    fovea_status st = fovea_engine_process_file((fovea_engine *)engine, "/nonexistent-other.mp4", on_frame, &c);
    CHECK(st == FOVEA_STATUS_NOT_FOUND, "other thread: %s", fovea_status_str(st));
    CHECK(strstr(fovea_engine_last_error((fovea_engine *)engine), "/nonexistent-other.mp4") != NULL, "other thread: %s",
          fovea_engine_last_error((fovea_engine *)engine));
    return NULL;
}

static void error_paths(fovea_engine *engine, const uint8_t *frame, uint32_t w, uint32_t h) {
    fovea_engine *e2 = (fovea_engine *)0x1;
    EXPECT(fovea_engine_create("model = ", NULL, &e2), FOVEA_STATUS_INVALID_CONFIG);
    CHECK(e2 == NULL, "a failed create leaves *out NULL");
    CHECK(strlen(fovea_last_error()) > 0, "a failed create has a message");
    EXPECT(fovea_engine_create(NULL, NULL, &e2), FOVEA_STATUS_NULL_ARGUMENT);
    EXPECT(fovea_engine_create("model = 'x.toml'", NULL, NULL), FOVEA_STATUS_NULL_ARGUMENT);
    /* A real model, so that builds with and without the cuda feature both stop at the provider. */
    EXPECT(fovea_engine_create("model = 'engines/nanodet-g-416.toml'\nprovider = 'tensorrt'", NULL, &e2), FOVEA_STATUS_UNSUPPORTED);
    CHECK(strstr(fovea_last_error(), "allow_fallback") != NULL, "%s", fovea_last_error());
    EXPECT(fovea_engine_create_from_file("/nonexistent/fovea.toml", &e2), FOVEA_STATUS_NOT_FOUND);
    EXPECT(fovea_engine_create("nonsense = 1\nmodel = 'a'", NULL, &e2), FOVEA_STATUS_INVALID_CONFIG);
    CHECK(strstr(fovea_last_error(), "nonsense") != NULL, "%s", fovea_last_error());

    EXPECT(fovea_stream_create(NULL, 0, NULL), FOVEA_STATUS_NULL_ARGUMENT);
    /* A NULL handle has no handle error: the thread's replaces the older message. */
    CHECK(strstr(fovea_last_error(), "engine is NULL") != NULL, "stale: %s", fovea_last_error());
    EXPECT(fovea_stream_flush(NULL), FOVEA_STATUS_NULL_ARGUMENT);
    CHECK(strstr(fovea_last_error(), "stream is NULL") != NULL, "stale: %s", fovea_last_error());
    EXPECT(fovea_stream_create(engine, 0, NULL), FOVEA_STATUS_NULL_ARGUMENT);
    fovea_stream *s = NULL;
    EXPECT(fovea_stream_create(engine, 0, &s), FOVEA_STATUS_OK);
    size_t bytes = (size_t)w * h * 3;
    EXPECT(fovea_stream_send_frame(s, NULL, bytes, w, h, w * 3, FOVEA_PIXEL_FORMAT_RGB24, 0), FOVEA_STATUS_NULL_ARGUMENT);
    EXPECT(fovea_stream_send_frame(s, frame, bytes, w, h, w * 3 - 1, FOVEA_PIXEL_FORMAT_RGB24, 0), FOVEA_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(fovea_stream_last_error(s), "stride") != NULL, "%s", fovea_stream_last_error(s));
    EXPECT(fovea_stream_send_frame(s, frame, bytes - 1, w, h, w * 3, FOVEA_PIXEL_FORMAT_RGB24, 0), FOVEA_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(fovea_stream_last_error(s), "bytes") != NULL, "%s", fovea_stream_last_error(s));
    EXPECT(fovea_stream_send_frame(s, frame, bytes, 0, h, w * 3, FOVEA_PIXEL_FORMAT_RGB24, 0), FOVEA_STATUS_INVALID_ARGUMENT);
    EXPECT(fovea_stream_send_frame(s, frame, bytes, w, h, w * 3, 7, 0), FOVEA_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(fovea_stream_last_error(s), "pixel format 7") != NULL, "%s", fovea_stream_last_error(s));
    EXPECT(fovea_stream_send_frame(s, frame, bytes, w + 1, h, w * 3 + 3, FOVEA_PIXEL_FORMAT_NV12, 0), FOVEA_STATUS_INVALID_ARGUMENT);
    /* A stride near SIZE_MAX is refused (it wrapped the size check, then panicked). */
    EXPECT(fovea_stream_send_frame(s, frame, bytes, w, h, SIZE_MAX - 7, FOVEA_PIXEL_FORMAT_RGB24, 0), FOVEA_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(fovea_stream_last_error(s), "too large") != NULL, "%s", fovea_stream_last_error(s));
    fovea_result *r = (fovea_result *)0x1;
    EXPECT(fovea_stream_receive(s, &r), FOVEA_STATUS_NEED_MORE_DATA);
    CHECK(r == NULL, "no result means *out NULL");
    /* Verify mode without rules: boxes are checked as a boxes file's are (class ids within
       0..=65535; a box that is not finite is invalid, never kept). */
    fovea_box given[2] = {{10, 10, 50, 90, 0.9f, 4000000000u, -1}, {NAN, 10, 50, 90, 0.9f, 0, 7}};
    EXPECT(fovea_stream_send_frame_with_boxes(s, frame, bytes, w, h, w * 3, FOVEA_PIXEL_FORMAT_RGB24, 0, given, 2),
           FOVEA_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(fovea_stream_last_error(s), "box 0: class_id 4000000000") != NULL, "%s", fovea_stream_last_error(s));
    EXPECT(fovea_stream_send_frame_with_boxes(s, frame, bytes, w, h, w * 3, FOVEA_PIXEL_FORMAT_RGB24, 0, given + 1, 1),
           FOVEA_STATUS_OK);
    EXPECT(fovea_stream_receive(s, &r), FOVEA_STATUS_OK);
    CHECK(r != NULL && r->count == 1 && r->detections[0].verdict == FOVEA_VERDICT_INVALID, "a NaN box is invalid: verdict %u",
          r && r->count ? (unsigned)r->detections[0].verdict : 99u);
    fovea_result_destroy(r);
    EXPECT(fovea_stream_receive(s, NULL), FOVEA_STATUS_NULL_ARGUMENT);
    EXPECT(fovea_stream_flush(s), FOVEA_STATUS_OK);
    EXPECT(fovea_stream_send_frame(s, frame, bytes, w, h, w * 3, FOVEA_PIXEL_FORMAT_RGB24, 0), FOVEA_STATUS_BAD_STATE);
    EXPECT(fovea_stream_receive(s, &r), FOVEA_STATUS_END_OF_STREAM);
    fovea_stream_destroy(s);
    fovea_stream_destroy(NULL);
    fovea_result_destroy(NULL);
    fovea_engine_destroy(NULL);

    struct file_ctx c = {stdout, 0, 1};
    EXPECT(fovea_engine_process_file(engine, "/nonexistent.mp4", on_frame, &c), FOVEA_STATUS_NOT_FOUND);
    CHECK(strstr(fovea_engine_last_error(engine), "/nonexistent.mp4") != NULL, "%s", fovea_engine_last_error(engine));
    EXPECT(fovea_engine_process_file(engine, "tests/c/test_fovea.c", on_frame, &c), FOVEA_STATUS_MEDIA);
    EXPECT(fovea_engine_process_file(engine, "tests/c/test_fovea.c", NULL, &c), FOVEA_STATUS_NULL_ARGUMENT);
    EXPECT(fovea_engine_process_file(NULL, "x", on_frame, &c), FOVEA_STATUS_NULL_ARGUMENT);
    CHECK(strcmp(fovea_status_str(FOVEA_STATUS_PANIC), "panic") == 0, "status string");
    CHECK(strcmp(fovea_status_str((fovea_status)9999), "unknown status") == 0, "unknown status number");

    /* Each thread has its own last error on a shared engine: this thread's message survives
     * another thread's failure. */
    EXPECT(fovea_engine_process_file(engine, "/nonexistent-main.mp4", on_frame, &c), FOVEA_STATUS_NOT_FOUND);
    const char *mine = fovea_engine_last_error(engine);
    pthread_t other;
    CHECK(pthread_create(&other, NULL, fail_on_other_thread, engine) == 0, "pthread_create");
    pthread_join(other, NULL);
    CHECK(strstr(mine, "/nonexistent-main.mp4") != NULL, "this thread's message changed: %s", mine);
    CHECK(fovea_engine_last_error(engine) == mine, "the pointer stays valid and the same");
    CHECK(strcmp(fovea_version(), FOVEA_VERSION_STRING) == 0, "version %s", fovea_version());
}

struct soak_job {
    fovea_engine *engine;
    const uint8_t *frames;
    int n, rounds, id;
    uint32_t w, h;
    long received;
};

static void *soak_main(void *arg) {
    struct soak_job *j = arg;
    for (int r = 0; r < j->rounds; r++) {
        int got = run_stream(j->engine, j->frames, j->n, j->w, j->h, (size_t)j->w * 3, (size_t)j->w * j->h * 3,
                             FOVEA_PIXEL_FORMAT_RGB24, NULL);
        CHECK(got == j->n, "soak thread %d round %d: %d results", j->id, r, got);
        j->received += got;
        if (j->id == 0) {
            printf("soak: round %d of %d\n", r + 1, j->rounds);
            fflush(stdout);
        }
    }
    return NULL;
}

static int soak(const char *config, const char *video, uint32_t w, uint32_t h, int n, int threads, int rounds) {
    fovea_engine *engine = NULL;
    if (fovea_engine_create_from_file(config, &engine) != FOVEA_STATUS_OK) {
        fprintf(stderr, "engine: %s\n", fovea_last_error());
        return 1;
    }
    uint8_t *frames = read_frames(video, "rgb24", (size_t)w * h * 3, n);
    if (!frames) return 1;
    struct soak_job jobs[64];
    pthread_t t[64];
    if (threads < 1 || threads > 64) return 2;
    for (int k = 0; k < threads; k++) {
        jobs[k] = (struct soak_job){engine, frames, n, rounds, k, w, h, 0};
        pthread_create(&t[k], NULL, soak_main, &jobs[k]);
    }
    long total = 0;
    for (int k = 0; k < threads; k++) {
        pthread_join(t[k], NULL);
        total += jobs[k].received;
    }
    free(frames);
    fovea_engine_destroy(engine);
    printf("soak: %d threads x %d streams x %d frames: %ld results\n", threads, rounds, n, total);
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 9 && strcmp(argv[1], "soak") == 0)
        return soak(argv[2], argv[3], (uint32_t)atoi(argv[4]), (uint32_t)atoi(argv[5]), atoi(argv[6]), atoi(argv[7]), atoi(argv[8]));
    if (argc < 6) {
        fprintf(stderr, "usage: test_fovea run|leak CONFIG VIDEO WIDTH HEIGHT [FRAMES OUTDIR]\n");
        return 2;
    }
    const char *mode = argv[1], *config = argv[2], *video = argv[3];
    uint32_t w = (uint32_t)atoi(argv[4]), h = (uint32_t)atoi(argv[5]);
    int leak = strcmp(mode, "leak") == 0;
    int n = leak ? 2 : atoi(argv[6]);
    const char *outdir = leak ? NULL : argv[7];

    fovea_engine *engine = NULL;
    fovea_status st = fovea_engine_create_from_file(config, &engine);
    if (st != FOVEA_STATUS_OK) {
        fprintf(stderr, "engine: %s: %s\n", fovea_status_str(st), fovea_last_error());
        return 1;
    }
    size_t classes = fovea_engine_label_count(engine);
    CHECK(classes >= 1 && fovea_engine_label(engine, 0) != NULL, "labels %zu", classes);
    CHECK(fovea_engine_label(engine, (uint32_t)classes) == NULL, "label past the end");
    if (!leak) CHECK(classes == 80 && strcmp(fovea_engine_label(engine, 0), "person") == 0, "the COCO model's labels");
    CHECK(strcmp(fovea_engine_provider(engine), "CPUExecutionProvider") == 0, "provider");

    size_t rgb_bytes = (size_t)w * h * 3;
    uint8_t *frames = read_frames(video, "rgb24", rgb_bytes, n);
    CHECK(frames != NULL, "frames from ffmpeg");
    if (!frames) return 1;

    char path[4096];
    FILE *out = NULL;
    if (!leak) {
        snprintf(path, sizeof path, "%s/stream.jsonl", outdir);
        out = fopen(path, "w");
    }
    int got = run_stream(engine, frames, n, w, h, (size_t)w * 3, rgb_bytes, FOVEA_PIXEL_FORMAT_RGB24, out);
    CHECK(got == n, "stream gave %d results for %d frames", got, n);
    if (out) fclose(out);

    if (!leak) {
        /* The same frames with padded rows (stride > width * 3) give the same results. */
        size_t stride = (size_t)w * 3 + 64;
        uint8_t *padded = calloc(stride * h * (size_t)n, 1);
        for (int i = 0; i < n; i++)
            for (uint32_t y = 0; y < h; y++)
                memcpy(padded + (size_t)i * stride * h + y * stride, frames + (size_t)i * rgb_bytes + (size_t)y * w * 3, (size_t)w * 3);
        snprintf(path, sizeof path, "%s/stream_padded.jsonl", outdir);
        out = fopen(path, "w");
        CHECK(run_stream(engine, padded, n, w, h, stride, stride * h, FOVEA_PIXEL_FORMAT_RGB24, out) == n, "padded");
        fclose(out);
        free(padded);

        /* NV12 from the ffmpeg CLI. */
        size_t nv12_bytes = (size_t)w * h * 3 / 2;
        uint8_t *nv12 = read_frames(video, "nv12", nv12_bytes, n);
        CHECK(nv12 != NULL, "NV12 frames");
        snprintf(path, sizeof path, "%s/nv12.jsonl", outdir);
        out = fopen(path, "w");
        CHECK(run_stream(engine, nv12, n, w, h, w, nv12_bytes, FOVEA_PIXEL_FORMAT_NV12, out) == n, "nv12");
        fclose(out);
        free(nv12);

        /* Two streams of one engine on two threads at once. */
        struct job jobs[2];
        pthread_t t[2];
        for (int k = 0; k < 2; k++) {
            jobs[k] = (struct job){engine, frames, n, w, h, NULL, 0, 0};
            pthread_create(&t[k], NULL, thread_main, &jobs[k]);
        }
        for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
        snprintf(path, sizeof path, "%s/stream.jsonl", outdir);
        char *single = slurp(path);
        for (int k = 0; k < 2; k++) {
            CHECK(jobs[k].received == n, "thread %d received %d", k, jobs[k].received);
            CHECK(single && jobs[k].text && strcmp(single, jobs[k].text) == 0, "thread %d results differ from one stream alone", k);
            snprintf(path, sizeof path, "%s/thread%d.jsonl", outdir, k);
            out = fopen(path, "w");
            fputs(jobs[k].text, out);
            fclose(out);
            free(jobs[k].text);
        }
        free(single);

        /* The file call: stop after n frames through the callback. */
        snprintf(path, sizeof path, "%s/file.jsonl", outdir);
        struct file_ctx c = {fopen(path, "w"), 0, n};
        EXPECT(fovea_engine_process_file(engine, video, on_frame, &c), FOVEA_STATUS_CALLBACK_STOPPED);
        CHECK(c.frames == n, "file call delivered %d frames", c.frames);
        const char *report = fovea_engine_last_report(engine);
        CHECK(report && strstr(report, "\"frames_processed\":") && strstr(report, "\"inference\":") &&
                  strstr(report, "\"provider\":\"CPUExecutionProvider\""),
              "report: %s", report ? report : "(null)");
        CHECK(fovea_engine_last_report(NULL) == NULL, "NULL engine");
        fclose(c.out);
    }

    if (!leak) {
        /* An engine configuration's [pitch] stage: every result carries the template's 32
           keypoints (pixels, (0, 0) where not seen); the test's own configuration has none. */
        fovea_engine *pitch = NULL;
        EXPECT(fovea_engine_create("[pitch]\nmode = \"lines\"", NULL, &pitch), FOVEA_STATUS_OK);
        for (int with = 0; with < 2; with++) {
            struct kp_ctx k = {0, 0, with ? 32 : 0};
            EXPECT(fovea_engine_process_file(with ? pitch : engine, video, on_keypoints, &k), FOVEA_STATUS_CALLBACK_STOPPED);
            CHECK(k.frames == 3 && k.bad == 0, "[pitch] %d: %d frames, %d bad keypoint fields", with, k.frames, k.bad);
        }
        fovea_engine_destroy(pitch);

        /* A pose model (tests/data/pose_v8_k3: Ultralytics' YOLOv8 pose layout, 32 keypoints):
           every detection carries its keypoints. */
        fovea_engine *pose = NULL;
        EXPECT(fovea_engine_create("model = \"tests/data/pose_v8_k3.toml\"", NULL, &pose), FOVEA_STATUS_OK);
        struct pose_ctx p = {0, 0, 0};
        EXPECT(fovea_engine_process_file(pose, video, on_pose, &p), FOVEA_STATUS_CALLBACK_STOPPED);
        CHECK(p.frames == 3 && p.dets > 0 && p.bad == 0, "pose: %d frames, %d detections, %d bad", p.frames, p.dets, p.bad);
        fovea_engine_destroy(pose);

        /* The engine configuration's interval: the tracker's predictions between the frames the
           detector sees, flagged on each result. */
        fovea_engine *every2 = NULL;
        EXPECT(fovea_engine_create("interval = 1\n[tracking]\nenabled = true", NULL, &every2), FOVEA_STATUS_OK);
        struct interval_ctx iv = {0, 0};
        EXPECT(fovea_engine_process_file(every2, video, on_interval, &iv), FOVEA_STATUS_CALLBACK_STOPPED);
        CHECK(iv.frames == 6 && iv.bad == 0, "interval: %d frames, %d wrongly flagged", iv.frames, iv.bad);
        fovea_engine_destroy(every2);
    }

    error_paths(engine, frames, w, h);
    free(frames);
    fovea_engine_destroy(engine);
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    else fprintf(stderr, "test_fovea %s: all checks passed\n", mode);
    return failures ? 1 : 0;
}
