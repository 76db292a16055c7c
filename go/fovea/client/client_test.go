package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startServer runs `fovea serve` (FOVEA_BIN) on a free port with the repository's test clips
// as its media root.
func startServer(t *testing.T, args ...string) (string, *exec.Cmd) {
	root, _ := filepath.Abs("../../../tests/data")
	return startServerIn(t, root, args...)
}

// startServerIn runs `fovea serve` with root as its media root.
func startServerIn(t *testing.T, root string, args ...string) (string, *exec.Cmd) {
	bin := os.Getenv("FOVEA_BIN")
	if bin == "" {
		t.Fatal("FOVEA_BIN is not set (make test-go sets it)")
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--media-root", root}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(stderr)
	line, _ := rd.ReadString('\n')
	m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no address in %q", line)
	}
	go func() { _, _ = rd.WriteTo(os.Stderr) }()
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	return m[1], cmd
}

func TestAJobThroughTheServiceEqualsFoveaDetect(t *testing.T) {
	url, _ := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := New(url, "")
	job, err := c.Submit(ctx, "market_street_10s.mp4", Options{"duration": 3})
	if err != nil {
		t.Fatal(err)
	}
	var got []Frame
	if err := c.Results(ctx, job.ID, func(f Frame) error { got = append(got, f); return nil }); err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait(ctx, job.ID)
	if err != nil || st.State != "done" || st.Frames != uint64(len(got)) {
		t.Fatalf("status %+v, %v, %d frames read", st, err, len(got))
	}
	out, err := exec.Command(os.Getenv("FOVEA_BIN"), "detect", "../../../tests/data/market_street_10s.mp4", "--duration", "3", "-q", "-o", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []Frame
	sc := bufio.NewScanner(bytesReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var f Frame
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatal(err)
		}
		want = append(want, f)
	}
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("the service's %d frames differ from fovea detect's %d", len(got), len(want))
	}
	jobs, err := c.Jobs(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].ID != job.ID {
		t.Fatalf("jobs %+v, %v", jobs, err)
	}

	// With an interval, the status counts the frames whose boxes the tracker predicted.
	job, err = c.Submit(ctx, "market_street_10s.mp4", Options{"duration": 1, "interval": 1})
	if err != nil {
		t.Fatal(err)
	}
	var predicted uint64
	if err := c.Results(ctx, job.ID, func(f Frame) error {
		if f.Predicted {
			predicted++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if st, err = c.Wait(ctx, job.ID); err != nil || st.State != "done" || predicted == 0 || st.FramesPredicted != predicted {
		t.Fatalf("status %+v, %v; %d frames predicted in the results", st, err, predicted)
	}
}

func TestErrorsCarryTheStatusAndTheReason(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("tok-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _ := startServer(t, "--token-file", tok)
	ctx := context.Background()
	var e *Error
	if _, err := New(url, "").Jobs(ctx); !errors.As(err, &e) || e.Status != 401 {
		t.Fatalf("without the token: %v", err)
	}
	c := New(url, "tok-123")
	if _, err := c.Submit(ctx, "../secret.mp4", nil); !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("a path escape: %v", err)
	}
	if _, err := c.Status(ctx, 42); !errors.As(err, &e) || e.Status != 404 {
		t.Fatalf("an unknown job: %v", err)
	}
	st, err := c.Submit(ctx, "missing.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = c.Wait(ctx, st.ID); err != nil || st.State != "failed" || st.Error == nil {
		t.Fatalf("a missing file fails its job: %+v %v", st, err)
	}
}

// scoreClip makes tests/python/score_clip.py's composited broadcast clip (match.mkv, with the
// perfect submission perfect.json) in a new folder.
func scoreClip(t *testing.T) string {
	dir := t.TempDir()
	py, _ := filepath.Abs("../../../.deps/venv/bin/python")
	gen, _ := filepath.Abs("../../../tests/python/score_clip.py")
	if out, err := exec.Command(py, gen, dir).CombinedOutput(); err != nil {
		t.Fatalf("score clip: %v\n%s", err, out)
	}
	return dir
}

// A mine job gives `fovea mine`'s response (all but processing_time): every frame's objects
// with the validator's class ids and 32 pitch keypoints. (This clip's camera, a plain
// perspective warp, is not one the lines' search finds: test_mine.py checks the keypoints on
// camera paths.)
func TestAMineJobEqualsFoveaMine(t *testing.T) {
	dir := scoreClip(t)
	url, _ := startServerIn(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	resp, err := New(url, "").Mine(ctx, "match.mkv", nil)
	if err != nil {
		t.Fatal(err)
	}
	cli := filepath.Join(t.TempDir(), "cli.json")
	if out, err := exec.Command(os.Getenv("FOVEA_BIN"), "mine", filepath.Join(dir, "match.mkv"), "-o", cli, "-q").CombinedOutput(); err != nil {
		t.Fatalf("fovea mine: %v\n%s", err, out)
	}
	type response struct {
		Frames map[string]struct {
			Objects   []map[string]any `json:"objects"`
			Keypoints [][2]float64     `json:"keypoints"`
		} `json:"frames"`
		ProcessingTime float64 `json:"processing_time"`
	}
	var got, want response
	if err := json.Unmarshal(resp, &got); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(cli)
	if err := json.Unmarshal(text, &want); err != nil {
		t.Fatal(err)
	}
	if got.ProcessingTime <= 0 || len(got.Frames) == 0 || !reflect.DeepEqual(got.Frames, want.Frames) {
		t.Fatalf("service: %d frames, processing_time %v; CLI %d frames", len(got.Frames), got.ProcessingTime, len(want.Frames))
	}
	for k, f := range got.Frames {
		if len(f.Keypoints) != 32 {
			t.Fatalf("frame %s: %d keypoints", k, len(f.Keypoints))
		}
	}
}

func TestAScoreJobEqualsFoveaScore(t *testing.T) {
	dir := scoreClip(t)
	url, _ := startServerIn(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := New(url, "")
	report, err := c.Score(ctx, "match.mkv", "perfect.json", Options{"time": 3, "fastest": 2, "line_frames": 5})
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
			Score  float64 `json:"score"`
			Frames int     `json:"frames"`
		} `json:"boxes"`
	}
	var got, want part
	if err := json.Unmarshal(report, &got); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(os.Getenv("FOVEA_BIN"), "score", filepath.Join(dir, "match.mkv"), "--boxes", filepath.Join(dir, "perfect.json"),
		"--json", "--time", "3", "--fastest", "2", "--line-frames", "5").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	if got != want || got.Boxes.Score != 1 || got.Boxes.Frames == 0 {
		t.Fatalf("service %+v, CLI %+v", got, want)
	}
	var e *Error
	if _, err := c.SubmitScore(ctx, "match.mkv", "../perfect.json", nil); !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("a path escape: %v", err)
	}
	if _, err := c.Score(ctx, "match.mkv", "nope.json", nil); err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Fatalf("a missing miner file: %v", err)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
