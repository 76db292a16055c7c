package fovea

import (
	"bufio"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

const w, h, n = 768, 576, 12

func root(t *testing.T) string {
	d, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func media(t *testing.T, name string) string {
	dir := os.Getenv("FOVEA_MEDIA")
	if dir == "" {
		dir = filepath.Join(root(t), "../shared/media")
	}
	return filepath.Join(dir, name)
}

func newEngine(t *testing.T) *Engine {
	e, err := NewEngine("model = 'engines/nanodet-g-416.toml'", root(t))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func frames(t *testing.T) []byte {
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", media(t, "vtest.avi"), "-frames:v", "12", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != w*h*3*n {
		t.Fatalf("ffmpeg frames: %v (%d bytes)", err, len(out))
	}
	return out
}

func runStream(t *testing.T, e *Engine, data []byte) []*Result {
	s, err := e.NewStream(10)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var res []*Result
	drain := func() {
		for {
			r, err := s.Receive()
			if errors.Is(err, ErrNeedMoreData) || errors.Is(err, ErrEndOfStream) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res = append(res, r)
		}
	}
	for i := 0; i < n; i++ {
		if err := s.SendFrame(data[i*w*h*3:(i+1)*w*h*3], w, h, w*3, RGB24, float64(i)/10); err != nil {
			t.Fatal(err)
		}
		drain()
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	drain()
	if _, err := s.Receive(); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("after flush: %v", err)
	}
	var rep struct {
		Frames  int `json:"frames_processed"`
		Seconds struct{ Inference float64 }
	}
	if err := json.Unmarshal([]byte(s.Report()), &rep); err != nil || rep.Frames != n || rep.Seconds.Inference <= 0 {
		t.Fatalf("stream report %s: %v", s.Report(), err)
	}
	return res
}

func TestStreamMatchesFileCallAndCLI(t *testing.T) {
	e := newEngine(t)
	defer e.Close()
	if e.Provider() != "CPUExecutionProvider" || e.Labels()[0] != "person" || len(e.Labels()) != 80 {
		t.Fatalf("engine: %s %v", e.Provider(), e.Labels()[:2])
	}
	res := runStream(t, e, frames(t))
	if len(res) != n {
		t.Fatalf("%d results", len(res))
	}
	total := 0
	for i, r := range res {
		if r.Frame != uint64(i) {
			t.Fatalf("frame %d has number %d", i, r.Frame)
		}
		total += len(r.Detections)
	}
	if total < 30 {
		t.Fatalf("only %d detections", total)
	}

	// The file call equals the CLI.
	var file []*Result
	if err := e.ProcessFile(media(t, "vtest.avi"), func(r *Result) bool { file = append(file, r); return len(file) < n }); err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("FOVEA_BIN")
	if bin == "" {
		bin = filepath.Join(root(t), "target/debug/fovea")
	}
	out, err := exec.Command(bin, "detect", media(t, "vtest.avi"), "--model", filepath.Join(root(t), "engines/nanodet-g-416.toml"), "--duration", "1.2", "-q").Output()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	i := 0
	for sc.Scan() {
		var line struct {
			Frame      uint64
			Detections []struct {
				Bbox    [4]float64
				ClassID uint32 `json:"class_id"`
				TrackID *int64 `json:"track_id"`
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		f := file[i]
		if f.Frame != line.Frame || len(f.Detections) != len(line.Detections) {
			t.Fatalf("frame %d: %d detections vs the CLI's %d", line.Frame, len(f.Detections), len(line.Detections))
		}
		for k, d := range line.Detections {
			g := f.Detections[k]
			if math.Abs(float64(g.X1)-d.Bbox[0]) > 0.006 || math.Abs(float64(g.Y2)-d.Bbox[3]) > 0.006 || g.ClassID != d.ClassID {
				t.Fatalf("frame %d detection %d: %+v vs %+v", line.Frame, k, g, d)
			}
			want := int64(-1)
			if d.TrackID != nil {
				want = *d.TrackID
			}
			if g.TrackID != want {
				t.Fatalf("frame %d detection %d: track %d vs %d", line.Frame, k, g.TrackID, want)
			}
		}
		i++
	}
	if i != n {
		t.Fatalf("CLI gave %d frames", i)
	}
}

func TestGoroutinesWithTheirOwnStreams(t *testing.T) {
	e := newEngine(t)
	defer e.Close()
	data := frames(t)
	alone := runStream(t, e, data)
	var wg sync.WaitGroup
	got := make([][]*Result, 2)
	for k := 0; k < 2; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			got[k] = runStream(t, e, data)
		}(k)
	}
	wg.Wait()
	for k := range got {
		for i := range alone {
			a, b := alone[i].Detections, got[k][i].Detections
			if len(a) != len(b) {
				t.Fatalf("goroutine %d frame %d: %d vs %d detections", k, i, len(b), len(a))
			}
			for j := range a {
				if a[j] != b[j] {
					t.Fatalf("goroutine %d frame %d: %+v vs %+v", k, i, b[j], a[j])
				}
			}
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := NewEngine("model = ", ""); err == nil {
		t.Fatal("bad config accepted")
	} else if fe := (*Error)(nil); !errors.As(err, &fe) || fe.Status != StatusInvalidConfig || fe.Message == "" {
		t.Fatalf("bad config: %v", err)
	}
	_, err := NewEngine("model = 'engines/nanodet-g-416.toml'\nprovider = 'tensorrt'", root(t))
	var fe *Error
	if !errors.As(err, &fe) || fe.Status != StatusUnsupported || !strings.Contains(fe.Message, "allow_fallback") {
		t.Fatalf("tensorrt: %v", err)
	}
	if _, err := NewEngineFromFile("/nonexistent/fovea.toml"); !errors.As(err, &fe) || fe.Status != StatusNotFound {
		t.Fatalf("missing file: %v", err)
	}
	e := newEngine(t)
	defer e.Close()
	s, _ := e.NewStream(0)
	defer s.Close()
	err = s.SendFrame(make([]byte, 100), 10, 10, 30, RGB24, 0)
	if !errors.As(err, &fe) || fe.Status != StatusInvalidArgument || !strings.Contains(fe.Message, "300 expected") {
		t.Fatalf("short frame: %v", err)
	}
	if err := s.SendFrame(make([]byte, 300), 10, 10, 30, PixelFormat(9), 0); !errors.As(err, &fe) || fe.Status != StatusInvalidArgument {
		t.Fatalf("bad format: %v", err)
	}
	if _, err := s.Receive(); !errors.Is(err, ErrNeedMoreData) {
		t.Fatalf("empty stream: %v", err)
	}
	if err := e.ProcessFile(filepath.Join(root(t), "README.md"), func(*Result) bool { return true }); !errors.As(err, &fe) || fe.Status != StatusMedia {
		t.Fatalf("not media: %v", err)
	}
	// Regression (issue 34): strings were cut at a NUL byte, sizes wrapped into 32 bits, and class
	// ids past the limit were taken.
	for name, err := range map[string]error{
		"process":   e.ProcessFile("a.mp4\x00.txt", func(*Result) bool { return true }),
		"verify":    e.VerifyFile("a.mp4", "b\x00.json", func(*Result) bool { return true }),
		"score":     func() error { _, err := Score("v\x00.mp4", "b.json", ScoreOptions{}); return err }(),
		"engine":    func() error { _, err := NewEngineFromFile("x\x00.toml"); return err }(),
		"config":    func() error { _, err := NewEngine("model = 'a'\x00", ""); return err }(),
		"keyframes": func() error { _, err := e.Keyframes("v\x00.mp4", t.TempDir(), KeyframesOptions{}); return err }(),
	} {
		if !errors.As(err, &fe) || fe.Status != StatusInvalidArgument || !strings.Contains(fe.Message, "NUL byte") {
			t.Fatalf("%s with a NUL byte: %v", name, err)
		}
	}
	if err := s.SendFrame(make([]byte, 300), 1<<32+10, 10, 30, RGB24, 0); !errors.As(err, &fe) || !strings.Contains(fe.Message, "1..=16384") {
		t.Fatalf("a width past 32 bits: %v", err)
	}
	err = s.SendFrameWithBoxes(make([]byte, 300), 10, 10, 30, RGB24, 0, []Box{{X1: 1, Y1: 1, X2: 5, Y2: 5, Score: 0.9, ClassID: 1 << 20, ID: -1}})
	if !errors.As(err, &fe) || fe.Status != StatusInvalidArgument || !strings.Contains(fe.Message, "class_id 1048576") {
		t.Fatalf("a class id past the limit: %v", err)
	}
	e.Close()
	e.Close()
	if _, err := e.NewStream(0); !errors.As(err, &fe) || fe.Status != StatusBadState {
		t.Fatalf("closed engine: %v", err)
	}
	if Version() != "0.1.0" {
		t.Fatal(Version())
	}
}

// An engine configured with the zero-shot classifier gives the labels and sources of
// `fovea detect --classifier` on the same file.
func TestEngineClassifierGivesTheCLILabels(t *testing.T) {
	enc := filepath.Join(root(t), "tests/data/tiny_clip.toml")
	model := filepath.Join(root(t), "engines/nanodet-g-416.toml")
	e, err := NewEngine("model = '"+model+"'\n[classifier]\nkind = 'zeroshot'\nencoder = '"+enc+"'\n", root(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	bin := os.Getenv("FOVEA_BIN")
	if bin == "" {
		bin = filepath.Join(root(t), "target/debug/fovea")
	}
	out, err := exec.Command(bin, "detect", media(t, "vtest.avi"), "--model", model, "--classifier", enc, "--duration", "1.0", "-q").Output()
	if err != nil {
		t.Fatal(err)
	}
	var cli []struct {
		Detections []struct{ Label, Source string }
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var line struct {
			Detections []struct{ Label, Source string }
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatal(err)
		}
		cli = append(cli, line)
	}
	var file []*Result
	if err := e.ProcessFile(media(t, "vtest.avi"), func(r *Result) bool { file = append(file, r); return len(file) < len(cli) }); err != nil {
		t.Fatal(err)
	}
	if len(file) != len(cli) || len(cli) != 10 {
		t.Fatalf("%d frames vs the CLI's %d", len(file), len(cli))
	}
	sources := map[string]bool{}
	for i, f := range file {
		if len(f.Detections) != len(cli[i].Detections) {
			t.Fatalf("frame %d: %d detections vs %d", i, len(f.Detections), len(cli[i].Detections))
		}
		for k, d := range cli[i].Detections {
			g := f.Detections[k]
			if g.Label != d.Label || g.Source != d.Source {
				t.Fatalf("frame %d detection %d: %s/%s vs the CLI's %s/%s", i, k, g.Label, g.Source, d.Label, d.Source)
			}
			sources[g.Source] = true
		}
	}
	if !sources["classifier"] || !sources["track"] {
		t.Fatalf("sources seen: %v", sources)
	}
}

// The same engine configuration file given to `fovea detect --config` and to NewEngineFromFile:
// identical boxes, track ids, labels and sources.
func TestOneConfigurationFileDrivesTheCLIAndGoAlike(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "engine.toml")
	text := "model = '" + filepath.Join(root(t), "engines/nanodet-g-416.toml") + "'\nthreads = 2\n[tracking]\ntrack_thresh = 0.4\n" +
		"[classifier]\nkind = 'zeroshot'\nencoder = '" + filepath.Join(root(t), "tests/data/tiny_clip.toml") + "'\n"
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("FOVEA_BIN")
	if bin == "" {
		bin = filepath.Join(root(t), "target/debug/fovea")
	}
	out, err := exec.Command(bin, "detect", media(t, "vtest.avi"), "--config", cfg, "--duration", "1.0", "-q").Output()
	if err != nil {
		t.Fatal(err)
	}
	type det struct {
		Bbox          [4]float32
		TrackID       *int64 `json:"track_id"`
		Label, Source string
	}
	var cli [][]det
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var line struct{ Detections []det }
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatal(err)
		}
		cli = append(cli, line.Detections)
	}
	e, err := NewEngineFromFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var file []*Result
	if err := e.ProcessFile(media(t, "vtest.avi"), func(r *Result) bool { file = append(file, r); return len(file) < len(cli) }); err != nil {
		t.Fatal(err)
	}
	if len(file) != len(cli) || len(cli) != 10 {
		t.Fatalf("%d frames vs the CLI's %d", len(file), len(cli))
	}
	for i, f := range file {
		if len(f.Detections) != len(cli[i]) {
			t.Fatalf("frame %d: %d detections vs %d", i, len(f.Detections), len(cli[i]))
		}
		for k, d := range cli[i] {
			g := f.Detections[k]
			want := int64(-1)
			if d.TrackID != nil {
				want = *d.TrackID
			}
			if [4]float32{g.X1, g.Y1, g.X2, g.Y2} != d.Bbox || g.TrackID != want || g.Label != d.Label || g.Source != d.Source {
				t.Fatalf("frame %d detection %d: %+v vs the CLI's %+v", i, k, g, d)
			}
		}
	}
	// The file-to-file call writes the CLI's bytes, in both formats.
	for _, format := range []string{"jsonl", "scorevision"} {
		got := filepath.Join(dir, "go."+format)
		if _, err := e.DetectFile(media(t, "vtest.avi"), got, DetectFileOptions{Format: format, Duration: 1.0}); err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(dir, "cli."+format)
		if err := exec.Command(bin, "detect", media(t, "vtest.avi"), "--config", cfg, "--duration", "1.0", "--format", format, "-q", "-o", want).Run(); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(got)
		b, _ := os.ReadFile(want)
		if len(a) == 0 || string(a) != string(b) {
			t.Fatalf("%s: DetectFile wrote %d bytes unlike the CLI's %d", format, len(a), len(b))
		}
	}
	if _, err := e.DetectFile(media(t, "vtest.avi"), filepath.Join(dir, "x"), DetectFileOptions{Format: "csv"}); err == nil || !strings.Contains(err.Error(), "csv") {
		t.Fatalf("a bad format: %v", err)
	}
}

// The last file call's report comes out as JSON with its counts and stage times.
func TestLastReportAfterAFileCall(t *testing.T) {
	e := newEngine(t)
	defer e.Close()
	if e.LastReport() != "" {
		t.Fatalf("a report before any call: %s", e.LastReport())
	}
	n := 0
	if err := e.ProcessFile(media(t, "vtest.avi"), func(*Result) bool { n++; return n < 5 }); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		FramesProcessed uint64             `json:"frames_processed"`
		Provider        string             `json:"provider"`
		Seconds         map[string]float64 `json:"seconds"`
		Tracks          *uint64            `json:"tracks"`
	}
	if err := json.Unmarshal([]byte(e.LastReport()), &rep); err != nil {
		t.Fatal(err, e.LastReport())
	}
	if rep.FramesProcessed < 4 || rep.FramesProcessed > 5 || rep.Provider != "CPUExecutionProvider" || rep.Seconds["inference"] <= 0 || rep.Tracks == nil {
		t.Fatalf("report: %+v", rep)
	}
}

// spriteClip composites the sprite soccer clip (tests/python/sprite_clip.py) into a temporary
// folder: pitch.mkv and boxes.json.
func spriteClip(t *testing.T) (video, boxes string) {
	dir := t.TempDir()
	py := filepath.Join(root(t), ".deps/venv/bin/python")
	if out, err := exec.Command(py, filepath.Join(root(t), "tests/python/sprite_clip.py"), dir).CombinedOutput(); err != nil {
		t.Fatalf("sprite clip: %v\n%s", err, out)
	}
	return filepath.Join(dir, "pitch.mkv"), filepath.Join(dir, "boxes.json")
}

func foveaBin(t *testing.T) string {
	if bin := os.Getenv("FOVEA_BIN"); bin != "" {
		return bin
	}
	return filepath.Join(root(t), "target/debug/fovea")
}

// Go gets the CLI's colour teams and classifier labels on the composited sprite clip: from the
// file call (`fovea detect --teams --classifier`) and the verify call (`fovea verify --teams
// --classifier`), with one engine configuration.
func TestGoGetsTheCLIsTeamsAndClassifierLabels(t *testing.T) {
	video, boxes := spriteClip(t)
	model := filepath.Join(root(t), "engines/nanodet-g-416.toml")
	enc := filepath.Join(root(t), "tests/data/tiny_clip.toml")
	e, err := NewEngine("model = '"+model+"'\nteams = true\n[classifier]\nkind = 'zeroshot'\nencoder = '"+enc+"'\n", root(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	out, err := exec.Command(foveaBin(t), "detect", video, "--teams", "--classifier", enc, "--model", model, "-q").Output()
	if err != nil {
		t.Fatal(err)
	}
	type det struct {
		Label, Source string
		Team          *int
		TrackID       *int64 `json:"track_id"`
	}
	var cli [][]det
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var line struct{ Detections []det }
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatal(err)
		}
		cli = append(cli, line.Detections)
	}
	var file []*Result
	if err := e.ProcessFile(video, func(r *Result) bool { file = append(file, r); return true }); err != nil {
		t.Fatal(err)
	}
	if len(file) != len(cli) {
		t.Fatalf("%d frames vs the CLI's %d", len(file), len(cli))
	}
	teams := 0
	for i, f := range file {
		if len(f.Detections) != len(cli[i]) {
			t.Fatalf("frame %d: %d detections vs %d", i, len(f.Detections), len(cli[i]))
		}
		for k, c := range cli[i] {
			g := f.Detections[k]
			team := -1
			if c.Team != nil {
				team = *c.Team
				teams++
			}
			if g.Label != c.Label || g.Source != c.Source || g.Team != team {
				t.Fatalf("frame %d detection %d: %s/%s/%d vs the CLI's %s/%s/%d", i, k, g.Label, g.Source, g.Team, c.Label, c.Source, team)
			}
		}
	}
	if teams < 20 {
		t.Fatalf("only %d detections with a team", teams)
	}

	out, err = exec.Command(foveaBin(t), "verify", video, "--boxes", boxes, "--teams", "--classifier", enc, "-o", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	var lines []struct {
		Frame           uint64
		Index           int
		Verdict, Source string
		Label           string
		Rule            *string
		Team            *int
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var v struct {
			Frame           uint64
			Index           int
			Verdict, Source string
			Label           string
			Rule            *string
			Team            *int
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, v)
	}
	at, classified := 0, 0
	if err := e.VerifyFile(video, boxes, func(r *Result) bool {
		for k, d := range r.Detections {
			if at >= len(lines) {
				t.Fatalf("more boxes than the CLI's %d lines", len(lines))
			}
			c := lines[at]
			at++
			rule, team := "", -1
			if c.Rule != nil {
				rule = *c.Rule
			}
			if c.Team != nil {
				team = *c.Team
			}
			if r.Frame != c.Frame || k != c.Index || d.Verdict != c.Verdict || d.Rule != rule || d.Team != team {
				t.Fatalf("frame %d box %d: %s %q team %d vs the CLI's %s %q team %d", r.Frame, k, d.Verdict, d.Rule, d.Team, c.Verdict, rule, team)
			}
			// The line calls a team player "player" (source colour); a result keeps the box's class.
			if team < 0 && d.Source != c.Source {
				t.Fatalf("frame %d box %d: source %s vs the CLI's %s", r.Frame, k, d.Source, c.Source)
			}
			if d.Source == "classifier" {
				classified++
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if at != len(lines) || classified == 0 {
		t.Fatalf("%d boxes of %d, %d classified", at, len(lines), classified)
	}
	if !strings.Contains(e.LastReport(), "\"kept\"") {
		t.Fatalf("verify report: %s", e.LastReport())
	}
}

// Keyframes through the C ABI equals `fovea keyframes` on the same file with the same model.
func TestKeyframesEqualsTheCLI(t *testing.T) {
	e := newEngine(t)
	defer e.Close()
	video := media(t, "market_street_1906.mp4")
	dir := t.TempDir()
	doc, err := e.Keyframes(video, filepath.Join(dir, "go"), KeyframesOptions{Stride: 10, Max: 4})
	if err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("FOVEA_BIN")
	if bin == "" {
		bin = filepath.Join(root(t), "target/debug/fovea")
	}
	cli := exec.Command(bin, "keyframes", video, "-o", filepath.Join(dir, "cli"), "--stride", "10", "--max", "4", "--model", "engines/nanodet-g-416.toml")
	cli.Dir = root(t)
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("fovea keyframes: %v\n%s", err, out)
	}
	type key struct {
		Frame int     `json:"frame"`
		Score float64 `json:"score"`
		File  string  `json:"file"`
	}
	var got, want struct {
		Keyframes []key `json:"keyframes"`
	}
	if err := json.Unmarshal([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cli", "keyframes.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(got.Keyframes) == 0 || len(got.Keyframes) > 4 || len(got.Keyframes) != len(want.Keyframes) {
		t.Fatalf("Go %d key frames, CLI %d", len(got.Keyframes), len(want.Keyframes))
	}
	for i := range got.Keyframes {
		if got.Keyframes[i].Frame != want.Keyframes[i].Frame || math.Abs(got.Keyframes[i].Score-want.Keyframes[i].Score) > 1e-9 {
			t.Fatalf("key frame %d: Go %+v, CLI %+v", i, got.Keyframes[i], want.Keyframes[i])
		}
		if _, err := os.Stat(filepath.Join(dir, "go", got.Keyframes[i].File)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Keyframes(video, filepath.Join(dir, "bad"), KeyframesOptions{ImageFormat: "gif"}); err == nil || !strings.Contains(err.Error(), "gif") {
		t.Fatalf("a bad image format: %v", err)
	}
}

// Embed through the C ABI: a store of two real clips, then a rerun that skips both; a bad option
// is an error naming it.
func TestEmbedStoreAndResume(t *testing.T) {
	dir := t.TempDir()
	clips := []string{media(t, "vtest.avi"), media(t, "bigbuckbunny.mp4")}
	enc := filepath.Join(root(t), "engines/mobilenetv2.toml")
	report, err := Embed(clips, filepath.Join(dir, "store"), EmbedOptions{Encoder: enc, Sample: &EmbedSample{Frames: 3}})
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Embedded int    `json:"embedded"`
		Skipped  int    `json:"skipped"`
		Frames   int    `json:"frames"`
		Model    string `json:"model"`
	}
	if err := json.Unmarshal([]byte(report), &r); err != nil {
		t.Fatal(err)
	}
	if r.Embedded != 2 || r.Frames != 6 || r.Model != "mobilenetv2" {
		t.Fatalf("report %s", report)
	}
	report, err = Embed(clips, filepath.Join(dir, "store"), EmbedOptions{Encoder: enc, Sample: &EmbedSample{Frames: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(report), &r); err != nil || r.Skipped != 2 || r.Embedded != 0 {
		t.Fatalf("rerun: %s (%v)", report, err)
	}
	if _, err := Embed(clips, filepath.Join(dir, "bad"), EmbedOptions{Encoder: enc, Sample: &EmbedSample{Frames: 20000}}); err == nil || !strings.Contains(err.Error(), "sample.frames") {
		t.Fatalf("frames 20000: %v", err)
	}
}

// Go scores a miner file as the CLI does: the composited match (tests/python/score_clip.py), the
// same report from Score and from `fovea score --json`; a missing file is an error naming it.
func TestScoreEqualsTheCLI(t *testing.T) {
	dir := t.TempDir()
	py := filepath.Join(root(t), ".deps/venv/bin/python")
	if out, err := exec.Command(py, filepath.Join(root(t), "tests/python/score_clip.py"), dir).CombinedOutput(); err != nil {
		t.Fatalf("score clip: %v\n%s", err, out)
	}
	video, sub := filepath.Join(dir, "match.mkv"), filepath.Join(dir, "perfect.json")
	report, err := Score(video, sub, ScoreOptions{Time: 3, Fastest: 2, LineFrames: 5})
	if err != nil {
		t.Fatal(err)
	}
	type part struct {
		FinalScore float64 `json:"final_score"`
		Quality    float64 `json:"quality"`
		Keypoints  struct {
			Score float64 `json:"score"`
		} `json:"keypoints"`
		Boxes struct {
			Score float64 `json:"score"`
		} `json:"boxes"`
	}
	var got, want part
	if err := json.Unmarshal([]byte(report), &got); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(foveaBin(t), "score", video, "--boxes", sub, "--json", "--time", "3", "--fastest", "2", "--line-frames", "5").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	if got != want || got.Boxes.Score != 1 || got.Keypoints.Score < 90 {
		t.Fatalf("Score %+v, CLI %+v", got, want)
	}
	if _, err := Score(video, filepath.Join(dir, "nope.json"), ScoreOptions{}); err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Fatalf("missing file: %v", err)
	}
	// The validator's frame list and fovea's own homography reach the score as the CLI's flags.
	list := filepath.Join(dir, "frames.json")
	if err := os.WriteFile(list, []byte("[1, 2, 3, 7]"), 0o644); err != nil {
		t.Fatal(err)
	}
	report, err = Score(video, sub, ScoreOptions{LineFrames: 3, Frames: []uint64{1, 2, 3, 7}, Homography: "consensus"})
	if err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(foveaBin(t), "score", video, "--boxes", sub, "--json", "--line-frames", "3", "--frames", list, "--homography", "consensus").Output()
	if err != nil {
		t.Fatal(err)
	}
	type kp struct {
		Keypoints struct {
			Score            float64 `json:"score"`
			FramesToValidate int     `json:"frames_to_validate"`
			Homography       string  `json:"homography"`
		} `json:"keypoints"`
	}
	var k1, k2 kp
	if err := json.Unmarshal([]byte(report), &k1); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &k2); err != nil {
		t.Fatal(err)
	}
	if k1 != k2 || k1.Keypoints.FramesToValidate != 4 || k1.Keypoints.Homography != "consensus" {
		t.Fatalf("Score %+v, CLI %+v", k1, k2)
	}
}

// An engine configuration's [pitch] section gives every result the template's 32 keypoints
// (all (0, 0) on a clip with no pitch); without it, none.
func TestPitchKeypointsFollowTheConfiguration(t *testing.T) {
	for _, c := range []struct {
		config string
		want   int
	}{{"[tracking]\nenabled = true\n[pitch]\nmode = \"lines\"\n", 32}, {"[tracking]\nenabled = true\n", 0}} {
		e, err := NewEngine(c.config, "")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = e.ProcessFile(media(t, "bigbuckbunny.mp4"), func(r *Result) bool {
			n++
			if len(r.Keypoints) != c.want || len(r.KeypointConfidences) != c.want {
				t.Fatalf("frame %d: %d keypoints, %d confidences, want %d", r.Frame, len(r.Keypoints), len(r.KeypointConfidences), c.want)
			}
			for _, v := range r.KeypointConfidences {
				if v != 0 {
					t.Fatalf("frame %d: confidence %v on a clip with no pitch", r.Frame, v)
				}
			}
			for _, p := range r.Keypoints {
				if p != [2]float32{0, 0} {
					t.Fatalf("frame %d: keypoint %v on a clip with no pitch", r.Frame, p)
				}
			}
			return n < 20
		})
		e.Close()
		if err != nil || n != 20 {
			t.Fatalf("%v after %d frames", err, n)
		}
	}
}

// An engine configuration's interval: every other frame predicted by the tracker, flagged.
func TestIntervalFlagsThePredictedFrames(t *testing.T) {
	e, err := NewEngine("interval = 1\n[tracking]\nenabled = true\n", "")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	n := 0
	err = e.ProcessFile(media(t, "vtest.avi"), func(r *Result) bool {
		if r.Frame != uint64(n) || r.Predicted != (n%2 == 1) {
			t.Fatalf("frame %d (result %d): predicted %v", r.Frame, n, r.Predicted)
		}
		n++
		return n < 8
	})
	if err != nil || n != 8 {
		t.Fatalf("%v after %d frames", err, n)
	}
}

// A pose model's keypoints reach every detection (tests/data/pose_v8_k3: 32 keypoints), as
// `fovea detect` writes them; a model without keypoints gives none.
func TestPoseKeypointsReachEveryDetection(t *testing.T) {
	model := filepath.Join(root(t), "tests/data/pose_v8_k3.toml")
	clip := filepath.Join(root(t), "tests/data/market_street_10s.mp4")
	out, err := exec.Command(foveaBin(t), "detect", clip, "--model", model, "-q", "--no-track", "--duration", "0.5", "-o", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want [][][][3]float32
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var f struct {
			Detections []struct {
				Keypoints [][3]float32 `json:"keypoints"`
			} `json:"detections"`
		}
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		var frame [][][3]float32
		for _, d := range f.Detections {
			frame = append(frame, d.Keypoints)
		}
		want = append(want, frame)
	}
	e, err := NewEngine("model = '"+model+"'\n[tracking]\nenabled = false\n", "")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	n := 0
	err = e.ProcessFile(clip, func(r *Result) bool {
		if len(r.ObjectKeypoints) != len(r.Detections) || len(r.Detections) != len(want[n]) {
			t.Fatalf("frame %d: %d keypoint sets, %d detections, the CLI %d", r.Frame, len(r.ObjectKeypoints), len(r.Detections), len(want[n]))
		}
		for i, k := range r.ObjectKeypoints {
			if len(k) != 32 || !reflect.DeepEqual(k, want[n][i]) {
				t.Fatalf("frame %d detection %d: %v, the CLI %v", r.Frame, i, k, want[n][i])
			}
		}
		n++
		return n < len(want)
	})
	if err != nil || n != len(want) || n < 10 {
		t.Fatalf("%v after %d frames of %d", err, n, len(want))
	}
	plain, err := NewEngine("[tracking]\nenabled = false\n", "")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	err = plain.ProcessFile(clip, func(r *Result) bool {
		if r.ObjectKeypoints != nil {
			t.Fatalf("frame %d: keypoints from a model without any", r.Frame)
		}
		return r.Frame < 5
	})
	if err != nil {
		t.Fatal(err)
	}
}
