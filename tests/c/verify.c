/* fovea's verify mode from C, driven by tests/it/capi.rs, which compares its lines with `fovea
 * verify`'s on the same boxes.
 *
 *   verify file   CONFIG VIDEO BOXES_JSONL OUT             fovea_engine_verify_file
 *   verify stream CONFIG VIDEO BOXES_TXT WIDTH HEIGHT FRAMES OUT
 *                 the caller's frames (RGB24 from the ffmpeg CLI) and boxes (one per line:
 *                 "frame x1 y1 x2 y2 score class_id id") through fovea_stream_send_frame_with_boxes
 *
 * One line per box, tab-separated: frame index verdict rule value limit flags team source label
 * label_score pixels green_fraction score_count.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fovea.h"

static const char *VERDICTS[] = {"keep", "reject", "invalid"};
static const char *SOURCES[] = {"detector", "filter", "classifier", "track", "colour"};

static void write_boxes(FILE *out, const fovea_result *r) {
    for (size_t i = 0; i < r->count; i++) {
        const fovea_detection *d = &r->detections[i];
        float sum = 0;
        for (size_t k = 0; k < d->score_count; k++) sum += d->score_values[k];
        if (d->score_count > 0 && (fabsf(sum - 1.0f) > 1e-3f || d->score_labels[0] == NULL)) {
            fprintf(stderr, "scores of frame %llu box %zu do not sum to 1: %g\n", (unsigned long long)r->frame, i, sum);
            exit(3);
        }
        fprintf(out, "%llu\t%zu\t%s\t%s\t%.6g\t%.6g\t%u\t%d\t%s\t%s\t%.4f\t%llu\t%.6f\t%zu\n", (unsigned long long)r->frame, i,
                d->verdict < 3 ? VERDICTS[d->verdict] : "?", d->rule ? d->rule : "-", d->rule_value, d->rule_limit, d->flags,
                d->team, d->source < 5 ? SOURCES[d->source] : "?", d->label, d->label_score,
                (unsigned long long)d->stats.pixels, d->stats.green_fraction, d->score_count);
    }
}

static int32_t on_frame(void *user, const fovea_result *r) {
    write_boxes((FILE *)user, r);
    return 0;
}

static int stream_mode(fovea_engine *engine, const char *video, const char *boxes_txt, uint32_t w, uint32_t h, int n,
                       FILE *out) {
    size_t bytes = (size_t)w * h * 3;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -i '%s' -frames:v %d -f rawvideo -pix_fmt rgb24 -", video, n);
    FILE *p = popen(cmd, "r");
    FILE *bf = fopen(boxes_txt, "r");
    if (!p || !bf) return 1;
    /* All boxes, in frame order. */
    size_t cap = 1024, nb = 0;
    fovea_box *all = malloc(cap * sizeof *all);
    long long *frame_of = malloc(cap * sizeof *frame_of);
    long long f, id;
    float x1, y1, x2, y2, score;
    unsigned cls;
    while (fscanf(bf, "%lld %f %f %f %f %f %u %lld", &f, &x1, &y1, &x2, &y2, &score, &cls, &id) == 8) {
        if (nb == cap) {
            cap *= 2;
            all = realloc(all, cap * sizeof *all);
            frame_of = realloc(frame_of, cap * sizeof *frame_of);
        }
        all[nb] = (fovea_box){x1, y1, x2, y2, score, cls, id};
        frame_of[nb++] = f;
    }
    fclose(bf);
    fovea_stream *s = NULL;
    if (fovea_stream_create(engine, 10.0, &s) != FOVEA_STATUS_OK) return 1;
    uint8_t *frame = malloc(bytes);
    size_t at = 0;
    int rc = 0;
    for (int i = 0; i < n && fread(frame, 1, bytes, p) == bytes; i++) {
        size_t first = at;
        while (at < nb && frame_of[at] == i) at++;
        fovea_status st = fovea_stream_send_frame_with_boxes(s, frame, bytes, w, h, (size_t)w * 3, FOVEA_PIXEL_FORMAT_RGB24,
                                                             i / 10.0, at > first ? &all[first] : NULL, at - first);
        if (st != FOVEA_STATUS_OK) {
            fprintf(stderr, "send: %s: %s\n", fovea_status_str(st), fovea_stream_last_error(s));
            rc = 1;
            break;
        }
        fovea_result *r = NULL;
        while (fovea_stream_receive(s, &r) == FOVEA_STATUS_OK) {
            if (r->count > 0) write_boxes(out, r);
            fovea_result_destroy(r);
        }
    }
    /* A NULL box array with a count is refused. */
    if (fovea_stream_send_frame_with_boxes(s, frame, bytes, w, h, (size_t)w * 3, 0, 99.0, NULL, 3) != FOVEA_STATUS_NULL_ARGUMENT) {
        fprintf(stderr, "NULL boxes with a count were accepted\n");
        rc = 1;
    }
    fovea_stream_destroy(s);
    pclose(p);
    free(frame);
    free(all);
    free(frame_of);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: verify file|stream CONFIG VIDEO BOXES ... OUT\n");
        return 2;
    }
    fovea_engine *engine = NULL;
    fovea_status st = fovea_engine_create_from_file(argv[2], &engine);
    if (st != FOVEA_STATUS_OK) {
        fprintf(stderr, "engine: %s: %s\n", fovea_status_str(st), fovea_last_error());
        return 1;
    }
    int rc;
    if (strcmp(argv[1], "file") == 0) {
        FILE *out = fopen(argv[5], "w");
        st = fovea_engine_verify_file(engine, argv[3], argv[4], on_frame, out);
        fclose(out);
        if (st != FOVEA_STATUS_OK) fprintf(stderr, "verify: %s: %s\n", fovea_status_str(st), fovea_engine_last_error(engine));
        const char *report = fovea_engine_last_report(engine);
        if (report == NULL || strstr(report, "\"kept\"") == NULL) {
            fprintf(stderr, "no verify report: %s\n", report ? report : "(null)");
            st = FOVEA_STATUS_INTERNAL;
        }
        rc = st != FOVEA_STATUS_OK;
    } else if (argc >= 9) {
        FILE *out = fopen(argv[8], "w");
        rc = stream_mode(engine, argv[3], argv[4], (uint32_t)atoi(argv[5]), (uint32_t)atoi(argv[6]), atoi(argv[7]), out);
        fclose(out);
    } else {
        rc = 2;
    }
    fovea_engine_destroy(engine);
    return rc;
}
