// Package fovea is the Go binding of fovea's C API (include/fovea.h): video analytics with an
// engine shared by streams, one stream per video.
//
//	engine, err := fovea.NewEngineFromFile("fovea.toml")
//	defer engine.Close()
//	stream, err := engine.NewStream(25)
//	defer stream.Close()
//	err = stream.SendFrame(rgb, width, height, width*3, fovea.RGB24, pts)
//	for {
//		r, err := stream.Receive()
//		if errors.Is(err, fovea.ErrNeedMoreData) { break }
//		...
//	}
//
// cgo finds the library and header with pkg-config: after `make install PREFIX=P`, set
// PKG_CONFIG_PATH=P/lib/pkgconfig (not needed for /usr/local) and use the module from anywhere,
// e.g. with `replace github.com/fovea/fovea/go/fovea => <checkout>/go/fovea` in your go.mod.
// Inside the checkout, `make test-go` points pkg-config at the build folder.
package fovea

/*
#cgo pkg-config: fovea
#include <stdlib.h>
#include "fovea.h"

extern int32_t foveaGoFrame(void *user_data, fovea_result *result);

static fovea_status fovea_go_process_file(fovea_engine *e, const char *path, uintptr_t handle) {
	// The callback gets a const result; Go's export cannot say const.
	return fovea_engine_process_file(e, path, (fovea_frame_callback)foveaGoFrame, (void *)handle);
}

static fovea_status fovea_go_verify_file(fovea_engine *e, const char *video, const char *boxes, uintptr_t handle) {
	return fovea_engine_verify_file(e, video, boxes, (fovea_frame_callback)foveaGoFrame, (void *)handle);
}
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/cgo"
	"strings"
	"unsafe"
)

// Status is a fovea status code (the numbers of include/fovea.h).
type Status uint32

const (
	StatusOK              Status = 0
	StatusNeedMoreData    Status = 1
	StatusEndOfStream     Status = 2
	StatusNullArgument    Status = 100
	StatusInvalidArgument Status = 101
	StatusNotFound        Status = 102
	StatusInvalidConfig   Status = 103
	StatusRuntimeMissing  Status = 104
	StatusModelMismatch   Status = 105
	StatusMedia           Status = 106
	StatusInference       Status = 107
	StatusUnsupported     Status = 108
	StatusCallbackStopped Status = 109
	StatusIO              Status = 110
	StatusBadState        Status = 111
	StatusDevice          Status = 112
	StatusPanic           Status = 200
	StatusInternal        Status = 201
)

func (s Status) String() string { return C.GoString(C.fovea_status_str(C.uint32_t(s))) }

// Error is a failed fovea call: its status and fovea's message.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("fovea: %s (%s)", e.Message, e.Status) }

// Is makes errors.Is(err, fovea.ErrNeedMoreData) etc. compare statuses.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && t.Message == ""
}

var (
	// ErrNeedMoreData: Receive has no result yet; send more frames.
	ErrNeedMoreData = &Error{Status: StatusNeedMoreData}
	// ErrEndOfStream: the stream was flushed and every result was received.
	ErrEndOfStream = &Error{Status: StatusEndOfStream}
)

// PixelFormat of frames given to SendFrame.
type PixelFormat uint32

const (
	RGB24 PixelFormat = 0
	BGR24 PixelFormat = 1
	NV12  PixelFormat = 2
)

// Version is fovea's version.
func Version() string { return C.GoString(C.fovea_version()) }

// Detection is one detected object (or box handed in); TrackID is -1 without a confirmed track.
// Label is the classifier's (or its track's, or colour's) when one decided the object, else the
// model's class name; Source says who decided last: "detector", "filter", "classifier", "track"
// or "colour". With rules: Verdict ("keep", "reject", "invalid"), Rule ("" when kept), RuleValue
// and RuleLimit (0 when Rule is "" or the rule measures none), Stats (Pixels 0 when not measured); with teams: Team (0, 1,
// or -1); with a classifier: LabelScore (the classifier's probabilities are in
// Result.Probabilities). Detections compare with ==.
type Detection struct {
	X1, Y1, X2, Y2 float32
	Score          float32
	ClassID        uint32
	Label          string
	TrackID        int64
	Source         string
	LabelScore     float32
	Verdict        string
	Rule           string
	RuleValue      float32
	RuleLimit      float32
	Flags          uint32
	Team           int
	Stats          ColourStats
}

// Flags of a Detection.
const (
	FlagClamped   uint32 = 1 // the box reached outside the frame and was clamped to it
	FlagUncertain uint32 = 2 // the classifier could not decide
)

// ColourStats of a detection's ROI; channels R, G, B.
type ColourStats struct {
	Pixels         uint64
	Mean, Std      [3]float32
	Brightness     float32
	GreenDominance float32
	GreenFraction  float32
	DarkFraction   float32
}

// Box is one box handed to SendFrameWithBoxes (verify mode), in pixels of its frame; ID is the
// caller's id for it (-1: none).
type Box struct {
	X1, Y1, X2, Y2 float32
	Score          float32
	ClassID        uint32
	ID             int64
}

var verdictNames = []string{"keep", "reject", "invalid"}

var sourceNames = []string{"detector", "filter", "classifier", "track", "colour"}

func sourceName(s uint32) string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "unknown"
}

// Result holds one frame's detections, and per detection the probabilities of the classifier's
// last step (nil where it did not run).
type Result struct {
	Frame         uint64
	Pts           float64
	Detections    []Detection
	Probabilities []map[string]float32
	// Pitch keypoints (x, y pixels, the template's order, (0, 0) where not seen) when the
	// engine's [pitch] stage runs; nil otherwise.
	Keypoints [][2]float32
	// The pitch keypoints' confidences (0..1, 0 where not seen): the keypoint model's, or the
	// template's fit to the lines; nil when Keypoints is.
	KeypointConfidences []float32
	// The detector skipped the frame (the configuration's interval): its boxes are the tracks'
	// predictions.
	Predicted bool
	// Per detection, a pose model's keypoints of the object (x, y, confidence; the model's
	// order); nil for a model without keypoints.
	ObjectKeypoints [][][3]float32
}

func convert(r *C.fovea_result) *Result {
	out := &Result{Frame: uint64(r.frame), Pts: float64(r.pts), Predicted: r.predicted != 0}
	if k := int(r.keypoint_count); k > 0 {
		kp := unsafe.Slice((*float32)(unsafe.Pointer(r.keypoints)), 2*k)
		out.Keypoints = make([][2]float32, k)
		for i := range out.Keypoints {
			out.Keypoints[i] = [2]float32{kp[2*i], kp[2*i+1]}
		}
		if r.keypoint_confidences != nil {
			out.KeypointConfidences = append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(r.keypoint_confidences)), k)...)
		}
	}
	n := int(r.count)
	if n > 0 {
		dets := unsafe.Slice(r.detections, n)
		out.Detections = make([]Detection, n)
		out.Probabilities = make([]map[string]float32, n)
		for i, d := range dets {
			det := Detection{X1: float32(d.x1), Y1: float32(d.y1), X2: float32(d.x2), Y2: float32(d.y2), Score: float32(d.score),
				ClassID: uint32(d.class_id), Label: C.GoString(d.label), TrackID: int64(d.track_id), Source: sourceName(uint32(d.source)),
				LabelScore: float32(d.label_score), Verdict: "unknown", Flags: uint32(d.flags), Team: int(d.team)}
			if int(d.verdict) < len(verdictNames) {
				det.Verdict = verdictNames[d.verdict]
			}
			if d.rule != nil {
				det.Rule = C.GoString(d.rule)
				// NaN (no value, e.g. an invalid box) reads as 0, so that detections compare with ==.
				if v := float32(d.rule_value); v == v {
					det.RuleValue = v
				}
				if v := float32(d.rule_limit); v == v {
					det.RuleLimit = v
				}
			}
			st := d.stats
			det.Stats = ColourStats{Pixels: uint64(st.pixels), Brightness: float32(st.brightness),
				GreenDominance: float32(st.green_dominance), GreenFraction: float32(st.green_fraction), DarkFraction: float32(st.dark_fraction)}
			for k := 0; k < 3; k++ {
				det.Stats.Mean[k], det.Stats.Std[k] = float32(st.mean[k]), float32(st.std[k])
			}
			if n := int(d.score_count); n > 0 {
				names, values := unsafe.Slice(d.score_labels, n), unsafe.Slice(d.score_values, n)
				out.Probabilities[i] = make(map[string]float32, n)
				for k := range names {
					out.Probabilities[i][C.GoString(names[k])] = float32(values[k])
				}
			}
			if k := int(d.object_keypoint_count); k > 0 {
				if out.ObjectKeypoints == nil {
					out.ObjectKeypoints = make([][][3]float32, n)
				}
				kp := unsafe.Slice((*float32)(unsafe.Pointer(d.object_keypoints)), 3*k)
				out.ObjectKeypoints[i] = make([][3]float32, k)
				for j := range out.ObjectKeypoints[i] {
					out.ObjectKeypoints[i][j] = [3]float32{kp[3*j], kp[3*j+1], kp[3*j+2]}
				}
			}
			out.Detections[i] = det
		}
	}
	return out
}

// Engine is a loaded model with its settings. Safe for concurrent use by several goroutines,
// each with its own Stream.
type Engine struct {
	p *C.fovea_engine
}

func constructorError(s C.fovea_status) error {
	return &Error{Status: Status(s), Message: C.GoString(C.fovea_last_error())}
}

// cStrings are C copies of Go strings, freed together.
type cStrings []*C.char

// add is s as a C string, or an error naming what when s holds a NUL byte (a C string would end
// there: "a.mp4\x00.txt" must not quietly become "a.mp4").
func (c *cStrings) add(what, s string) (*C.char, error) {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return nil, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("%s holds a NUL byte at byte %d", what, i)}
	}
	p := C.CString(s)
	*c = append(*c, p)
	return p, nil
}

// addAll is add for (what, s) pairs, in order: the C strings, or the first refusal.
func (c *cStrings) addAll(pairs ...string) ([]*C.char, error) {
	out := make([]*C.char, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		p, err := c.add(pairs[i], pairs[i+1])
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (c cStrings) free() {
	for _, p := range c {
		C.free(unsafe.Pointer(p))
	}
}

// frameArgs checks a frame's sizes before they become C's 32-bit and size_t values (no wrap).
func frameArgs(data []byte, width, height, stride int) error {
	if len(data) == 0 {
		return &Error{Status: StatusInvalidArgument, Message: "empty frame"}
	}
	if width < 1 || height < 1 || width > 16384 || height > 16384 || stride < 1 {
		return &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("frame %dx%d with stride %d: sides must be 1..=16384 and the stride positive", width, height, stride)}
	}
	return nil
}

// NewEngine creates an engine from configuration text (TOML); relative paths are taken from
// baseDir ("" for the current directory).
func NewEngine(config string, baseDir string) (*Engine, error) {
	runtime.LockOSThread() // fovea_last_error is per thread
	defer runtime.UnlockOSThread()
	var cs cStrings
	defer cs.free()
	cc, err := cs.add("config", config)
	if err != nil {
		return nil, err
	}
	var cb *C.char
	if baseDir != "" {
		if cb, err = cs.add("baseDir", baseDir); err != nil {
			return nil, err
		}
	}
	var p *C.fovea_engine
	if s := C.fovea_engine_create(cc, cb, &p); s != 0 {
		return nil, constructorError(s)
	}
	return &Engine{p}, nil
}

// NewEngineFromFile creates an engine from a configuration file.
func NewEngineFromFile(path string) (*Engine, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cs cStrings
	defer cs.free()
	cp, err := cs.add("path", path)
	if err != nil {
		return nil, err
	}
	var p *C.fovea_engine
	if s := C.fovea_engine_create_from_file(cp, &p); s != 0 {
		return nil, constructorError(s)
	}
	return &Engine{p}, nil
}

// Close frees the engine; streams made from it stay usable until closed. Close twice is a no-op.
func (e *Engine) Close() {
	if e.p != nil {
		C.fovea_engine_destroy(e.p)
		e.p = nil
	}
}

func (e *Engine) err(s C.fovea_status) error {
	return &Error{Status: Status(s), Message: C.GoString(C.fovea_engine_last_error(e.p))}
}

// Labels are the model's class names, index = class id.
func (e *Engine) Labels() []string {
	n := int(C.fovea_engine_label_count(e.p))
	out := make([]string, n)
	for i := range out {
		out[i] = C.GoString(C.fovea_engine_label(e.p, C.uint32_t(i)))
	}
	return out
}

// Provider is the execution provider the model really runs on.
func (e *Engine) Provider() string { return C.GoString(C.fovea_engine_provider(e.p)) }

// LastReport is the report of the last ProcessFile call as JSON (frames, detections per class,
// seconds per stage, tracks, classifier calls made and saved, model and provider); "" before any
// call or when its input could not be opened.
func (e *Engine) LastReport() string {
	if e.p == nil {
		return ""
	}
	return C.GoString(C.fovea_engine_last_report(e.p))
}

//export foveaGoFrame
func foveaGoFrame(user unsafe.Pointer, r *C.fovea_result) C.int32_t {
	fn := cgo.Handle(uintptr(user)).Value().(func(*Result) bool)
	if fn(convert(r)) {
		return 0
	}
	return 1
}

// ProcessFile processes a whole video or image file, calling fn for every frame in order; fn
// returns false to stop (ProcessFile then returns nil).
func (e *Engine) ProcessFile(path string, fn func(*Result) bool) error {
	if e.p == nil {
		return &Error{Status: StatusBadState, Message: "the engine is closed"}
	}
	var cs cStrings
	defer cs.free()
	cp, err := cs.add("path", path)
	if err != nil {
		return err
	}
	h := cgo.NewHandle(fn)
	defer h.Delete()
	s := C.fovea_go_process_file(e.p, cp, C.uintptr_t(h))
	if s == 0 || Status(s) == StatusCallbackStopped {
		return nil
	}
	return e.err(s)
}

// VerifyFile verifies the boxes of boxesPath (a Score Vision JSON file or fovea JSONL) on video
// as `fovea verify` does with the engine's configuration (its rules, else the built-in Score
// Vision set; its classifier; teams), calling fn for every frame with boxes, in order; each box's
// Detection says what was decided (Verdict, Rule, Stats, Label, Source, Team). fn returns false
// to stop (VerifyFile then returns nil).
func (e *Engine) VerifyFile(video, boxesPath string, fn func(*Result) bool) error {
	if e.p == nil {
		return &Error{Status: StatusBadState, Message: "the engine is closed"}
	}
	var cs cStrings
	defer cs.free()
	p, err := cs.addAll("video", video, "boxesPath", boxesPath)
	if err != nil {
		return err
	}
	h := cgo.NewHandle(fn)
	defer h.Delete()
	s := C.fovea_go_verify_file(e.p, p[0], p[1], C.uintptr_t(h))
	if s == 0 || Status(s) == StatusCallbackStopped {
		return nil
	}
	return e.err(s)
}

// KeyframesOptions are the optional settings of Keyframes (zero values: the defaults).
type KeyframesOptions struct {
	Max         int     `json:"max,omitempty"`          // at most this many (0: one per shot)
	MinGap      float64 `json:"min_gap,omitempty"`      // seconds between chosen frames (0: 1 s)
	Policy      string  `json:"policy,omitempty"`       // a policy TOML file ("": the built-in one)
	Stride      int     `json:"stride,omitempty"`       // measure every Nth frame (0: every frame)
	ImageFormat string  `json:"image_format,omitempty"` // "jpg" (default) or "png"
}

// Keyframes picks the key frames of video with the engine's model, as `fovea keyframes` does,
// writing the images, keyframes.json and contact_sheet.png into outDir; it returns the
// keyframes.json document (also LastReport).
func (e *Engine) Keyframes(video, outDir string, opts KeyframesOptions) (string, error) {
	return e.fileToFile("outDir", video, outDir, opts, func(v, o, js *C.char) C.fovea_status {
		return C.fovea_engine_keyframes(e.p, v, o, js)
	})
}

// fileToFile runs one of the engine's calls from a video to an output path with options as JSON
// (`name` is the output argument's name in errors) and returns the last report.
func (e *Engine) fileToFile(name, video, out string, opts any, call func(video, out, options *C.char) C.fovea_status) (string, error) {
	if e.p == nil {
		return "", &Error{Status: StatusBadState, Message: "the engine is closed"}
	}
	js, err := json.Marshal(opts)
	if err != nil {
		return "", err
	}
	var cs cStrings
	defer cs.free()
	p, err := cs.addAll("video", video, name, out, "options", string(js))
	if err != nil {
		return "", err
	}
	if s := call(p[0], p[1], p[2]); s != 0 {
		return "", e.err(s)
	}
	return e.LastReport(), nil
}

// DetectFileOptions are the optional settings of DetectFile (zero values: the defaults of
// `fovea detect`).
type DetectFileOptions struct {
	Format   string  `json:"format,omitempty"`   // "jsonl" (default) or "scorevision"
	Stride   int     `json:"stride,omitempty"`   // every Nth frame (0: every frame)
	MaxFPS   float64 `json:"max_fps,omitempty"`  // at most this many frames per second of video
	Start    float64 `json:"start,omitempty"`    // seconds
	Duration float64 `json:"duration,omitempty"` // seconds (0: to the end)
	IFrames  bool    `json:"iframes,omitempty"`  // only the key frames (I-frames)
}

// DetectFile processes video and writes its results to the file out: the bytes
// `fovea detect --config` writes with this engine's configuration (the results before an error
// are kept in out, then the error is returned). It returns the run's report (also LastReport).
func (e *Engine) DetectFile(video, out string, opts DetectFileOptions) (string, error) {
	return e.fileToFile("out", video, out, opts, func(v, o, js *C.char) C.fovea_status {
		return C.fovea_engine_detect_file(e.p, v, o, js)
	})
}

// EmbedSample chooses the frames of a clip: Frames spread evenly (default 8), or one Every seconds.
type EmbedSample struct {
	Frames int     `json:"frames,omitempty"`
	Every  float64 `json:"every,omitempty"`
}

// EmbedOptions are the optional settings of Embed (zero values: the defaults of `fovea embed`).
type EmbedOptions struct {
	Encoder  string       `json:"encoder,omitempty"` // an image-encoder manifest ("": the default encoder)
	Sample   *EmbedSample `json:"sample,omitempty"`
	Per      string       `json:"per,omitempty"` // "clip" (default) or "frame"
	Batch    int          `json:"batch,omitempty"`
	Decoders int          `json:"decoders,omitempty"`
	Threads  int          `json:"threads,omitempty"`
}

// Embed embeds the clips of inputs (files, folders walked, list files) into the Parquet store
// folder store, as `fovea embed` does: resumable, a failing clip recorded with its error. It
// returns the run's report (JSON).
func Embed(inputs []string, store string, opts EmbedOptions) (string, error) {
	runtime.LockOSThread() // the report and the error are per thread
	defer runtime.UnlockOSThread()
	in, err := json.Marshal(inputs)
	if err != nil {
		return "", err
	}
	if opts.Sample != nil && opts.Sample.Every == 0 && opts.Sample.Frames == 0 {
		opts.Sample = nil
	}
	js, err := json.Marshal(opts)
	if err != nil {
		return "", err
	}
	var cs cStrings
	defer cs.free()
	p, err := cs.addAll("inputs", string(in), "store", store, "options", string(js))
	if err != nil {
		return "", err
	}
	if s := C.fovea_embed(p[0], p[1], p[2]); s != 0 {
		return "", constructorError(s)
	}
	return C.GoString(C.fovea_last_embed_report()), nil
}

// ScoreOptions are fovea_score's options; zero values take the defaults.
type ScoreOptions struct {
	Rules      string  `json:"rules,omitempty"`
	LineFrames int     `json:"line_frames,omitempty"`
	Time       float64 `json:"time,omitempty"`
	Fastest    float64 `json:"fastest,omitempty"`
	Classifier string  `json:"classifier,omitempty"`
	Policy     string  `json:"policy,omitempty"`
	Threads    int     `json:"threads,omitempty"`
	// Frames to validate as the validator chose them (nil: every frame of the video).
	Frames []uint64 `json:"frames,omitempty"`
	// Homography: "opencv" (the validator's, the default) or "consensus" (fovea's).
	Homography string `json:"homography,omitempty"`
}

// Score scores the Score Vision miner file boxes made on video as `fovea score` does (the
// validator's rules and box score, the keypoint score, speed and final score) and returns the
// report as JSON.
func Score(video, boxes string, opts ScoreOptions) (string, error) {
	runtime.LockOSThread() // the report and the error are per thread
	defer runtime.UnlockOSThread()
	js, err := json.Marshal(opts)
	if err != nil {
		return "", err
	}
	var cs cStrings
	defer cs.free()
	p, err := cs.addAll("video", video, "boxes", boxes, "options", string(js))
	if err != nil {
		return "", err
	}
	if s := C.fovea_score(p[0], p[1], p[2]); s != 0 {
		return "", constructorError(s)
	}
	return C.GoString(C.fovea_last_score_report()), nil
}

// Stream is per-video state (tracker, queued results). Use it from one goroutine at a time.
type Stream struct {
	p *C.fovea_stream
}

// NewStream makes a stream for a video of fps frames per second (0: 30).
func (e *Engine) NewStream(fps float64) (*Stream, error) {
	if e.p == nil {
		return nil, &Error{Status: StatusBadState, Message: "the engine is closed"}
	}
	var p *C.fovea_stream
	if s := C.fovea_stream_create(e.p, C.double(fps), &p); s != 0 {
		return nil, e.err(s)
	}
	return &Stream{p}, nil
}

func (s *Stream) err(st C.fovea_status) error {
	return &Error{Status: Status(st), Message: C.GoString(C.fovea_stream_last_error(s.p))}
}

// SendFrame processes one frame from data (not kept after the call).
func (s *Stream) SendFrame(data []byte, width, height, stride int, format PixelFormat, pts float64) error {
	if err := frameArgs(data, width, height, stride); err != nil {
		return err
	}
	st := C.fovea_stream_send_frame(s.p, (*C.uint8_t)(unsafe.Pointer(&data[0])), C.size_t(len(data)), C.uint32_t(width),
		C.uint32_t(height), C.size_t(stride), C.uint32_t(format), C.double(pts))
	if st != 0 {
		return s.err(st)
	}
	return nil
}

// SendFrameWithBoxes is verify mode: the frame with the caller's boxes, which go through the
// stages (rules, classifier, teams) in place of the detector's.
func (s *Stream) SendFrameWithBoxes(data []byte, width, height, stride int, format PixelFormat, pts float64, boxes []Box) error {
	if err := frameArgs(data, width, height, stride); err != nil {
		return err
	}
	cboxes := make([]C.fovea_box, len(boxes))
	for i, b := range boxes {
		cboxes[i] = C.fovea_box{x1: C.float(b.X1), y1: C.float(b.Y1), x2: C.float(b.X2), y2: C.float(b.Y2), score: C.float(b.Score),
			class_id: C.uint32_t(b.ClassID), id: C.int64_t(b.ID)}
	}
	var bp *C.fovea_box
	if len(cboxes) > 0 {
		bp = &cboxes[0]
	}
	st := C.fovea_stream_send_frame_with_boxes(s.p, (*C.uint8_t)(unsafe.Pointer(&data[0])), C.size_t(len(data)), C.uint32_t(width),
		C.uint32_t(height), C.size_t(stride), C.uint32_t(format), C.double(pts), bp, C.size_t(len(cboxes)))
	runtime.KeepAlive(cboxes)
	if st != 0 {
		return s.err(st)
	}
	return nil
}

// Receive returns the next result, or ErrNeedMoreData / ErrEndOfStream.
func (s *Stream) Receive() (*Result, error) {
	var r *C.fovea_result
	switch st := C.fovea_stream_receive(s.p, &r); Status(st) {
	case StatusOK:
		defer C.fovea_result_destroy(r)
		return convert(r), nil
	case StatusNeedMoreData:
		return nil, ErrNeedMoreData
	case StatusEndOfStream:
		return nil, ErrEndOfStream
	default:
		return nil, s.err(st)
	}
}

// Report is what the stream did so far, as JSON: the run report LastReport gives (frames
// processed, detections per class, seconds per stage (conversion, preprocessing, waiting for the
// model, inference, postprocessing, tracking, statistics, rules, ROI tensors, classifier), tracks,
// ROIs, classifier calls made and saved, teams), its video null.
func (s *Stream) Report() string {
	if s.p == nil {
		return ""
	}
	return C.GoString(C.fovea_stream_report(s.p))
}

// Flush ends the stream: no more frames; queued results can still be received.
func (s *Stream) Flush() error {
	if st := C.fovea_stream_flush(s.p); st != 0 {
		return s.err(st)
	}
	return nil
}

// Close frees the stream. Close twice is a no-op.
func (s *Stream) Close() {
	if s.p != nil {
		C.fovea_stream_destroy(s.p)
		s.p = nil
	}
}
