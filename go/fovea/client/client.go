// Package client talks to `fovea serve`, the detection service, over HTTP/JSON. It needs no cgo
// and no fovea library: only the service's address (and its token, when it has one).
//
//	c := client.New("http://127.0.0.1:8080", "")
//	job, err := c.Submit(ctx, "clips/match.mp4", client.Options{"stride": 2})
//	err = c.Results(ctx, job.ID, func(frame client.Frame) error { ...; return nil })
//	st, err := c.Wait(ctx, job.ID)
//	report, err := c.Score(ctx, "clips/challenge.mp4", "clips/miner.json", client.Options{"time": 3.2})
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client is a connection to one service.
type Client struct {
	URL   string
	Token string
	HTTP  *http.Client
}

// New returns a client for the service at url (token: "" when the service has none).
func New(url, token string) *Client {
	for len(url) > 0 && url[len(url)-1] == '/' {
		url = url[:len(url)-1]
	}
	return &Client{URL: url, Token: token, HTTP: &http.Client{}}
}

// Options are a job's per-job options: classes, score, nms_iou, stride, max_fps, start,
// duration, iframes, tracking, format, pitch ("lines", "model", "off"), teams, interval.
type Options map[string]any

// Status is a job as the service reports it.
type Status struct {
	ID     uint64  `json:"id"`
	Source string  `json:"source"`
	Kind   string  `json:"kind"`  // detect, mine, score
	State  string  `json:"state"` // queued, running, done, failed, cancelled
	Format string  `json:"format"`
	Frames uint64  `json:"frames"`
	FPS    float64 `json:"fps"`
	// Frames of a live source dropped because the pipeline was behind (never for files).
	FramesDropped uint64 `json:"frames_dropped"`
	// Frames whose boxes the tracker predicted (the job's interval).
	FramesPredicted uint64  `json:"frames_predicted"`
	AgeS            float64 `json:"age_s"`
	RunningS        float64 `json:"running_s"`
	Error           *string `json:"error"`
}

// Ended tells whether the job is done, failed or cancelled.
func (s Status) Ended() bool {
	return s.State == "done" || s.State == "failed" || s.State == "cancelled"
}

// Detection is one box of a frame.
type Detection struct {
	BBox    [4]float64 `json:"bbox"`
	Score   float64    `json:"score"`
	ClassID uint32     `json:"class_id"`
	Label   string     `json:"label"`
	TrackID *uint64    `json:"track_id"`
	Source  string     `json:"source"`
}

// Frame is one line of a JSONL job's results.
type Frame struct {
	Frame uint64  `json:"frame"`
	PTS   float64 `json:"pts"`
	// The tracker predicted the boxes: the detector skipped the frame (the job's interval).
	Predicted  bool        `json:"predicted,omitempty"`
	Detections []Detection `json:"detections"`
}

// Error is an error answer of the service.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

func (c *Client) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = string(b)
		}
		return nil, &Error{Status: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}

func (c *Client) decode(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// Submit starts a job on source (a path under the service's media root, or a URL).
func (c *Client) Submit(ctx context.Context, source string, opts Options) (Status, error) {
	var s Status
	if opts == nil {
		opts = Options{}
	}
	err := c.decode(ctx, http.MethodPost, "/v1/jobs", map[string]any{"source": source, "options": opts}, &s)
	return s, err
}

// SubmitScore starts a score job: the miner's Score Vision file boxes (a path under the media
// root) scored on the video source as the validator scores it (`fovea score`). opts: time,
// fastest, line_frames, rules, classifier, policy, threads, per_frame.
func (c *Client) SubmitScore(ctx context.Context, source, boxes string, opts Options) (Status, error) {
	o := Options{"boxes": boxes}
	for k, v := range opts {
		o[k] = v
	}
	var s Status
	err := c.decode(ctx, http.MethodPost, "/v1/jobs", map[string]any{"source": source, "kind": "score", "options": o}, &s)
	return s, err
}

// Score runs a score job to its end and returns its report (the JSON `fovea score --json`
// prints). A job that did not end done is an error carrying fovea's reason.
func (c *Client) Score(ctx context.Context, source, boxes string, opts Options) (json.RawMessage, error) {
	st, err := c.SubmitScore(ctx, source, boxes, opts)
	if err != nil {
		return nil, err
	}
	return c.document(ctx, st, "score")
}

// SubmitMine starts a mine job (`fovea mine`): the Score Vision miner's response on the video
// source (tracking, roles by colour, the pitch keypoints, processing_time). opts: Submit's.
func (c *Client) SubmitMine(ctx context.Context, source string, opts Options) (Status, error) {
	if opts == nil {
		opts = Options{}
	}
	var s Status
	err := c.decode(ctx, http.MethodPost, "/v1/jobs", map[string]any{"source": source, "kind": "mine", "options": opts}, &s)
	return s, err
}

// Mine runs a mine job to its end and returns the Score Vision response. A job that did not
// end done is an error carrying fovea's reason.
func (c *Client) Mine(ctx context.Context, source string, opts Options) (json.RawMessage, error) {
	st, err := c.SubmitMine(ctx, source, opts)
	if err != nil {
		return nil, err
	}
	return c.document(ctx, st, "mine")
}

// document waits for a job whose result is one JSON document (score, mine) and returns it.
func (c *Client) document(ctx context.Context, st Status, kind string) (json.RawMessage, error) {
	var err error
	if st, err = c.Wait(ctx, st.ID); err != nil {
		return nil, err
	}
	if st.State != "done" {
		reason := ""
		if st.Error != nil {
			reason = *st.Error
		}
		return nil, fmt.Errorf("%s job %d %s: %s", kind, st.ID, st.State, reason)
	}
	resp, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/jobs/%d/results", st.ID), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var report json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&report); err != nil {
		return nil, fmt.Errorf("%s job %d result: %w", kind, st.ID, err)
	}
	return report, nil
}

// Status reports a job.
func (c *Client) Status(ctx context.Context, id uint64) (Status, error) {
	var s Status
	err := c.decode(ctx, http.MethodGet, fmt.Sprintf("/v1/jobs/%d", id), nil, &s)
	return s, err
}

// Jobs lists the jobs the service keeps.
func (c *Client) Jobs(ctx context.Context) ([]Status, error) {
	var r struct {
		Jobs []Status `json:"jobs"`
	}
	err := c.decode(ctx, http.MethodGet, "/v1/jobs", nil, &r)
	return r.Jobs, err
}

// Cancel stops a job; its results so far are kept.
func (c *Client) Cancel(ctx context.Context, id uint64) (Status, error) {
	var s Status
	err := c.decode(ctx, http.MethodDelete, fmt.Sprintf("/v1/jobs/%d", id), nil, &s)
	return s, err
}

// Results calls fn with each frame of a JSONL job, as the frames come while it runs.
func (c *Client) Results(ctx context.Context, id uint64, fn func(Frame) error) error {
	resp, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/jobs/%d/results", id), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var f Frame
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return fmt.Errorf("job %d results: %w", id, err)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return sc.Err()
}

// Wait polls until the job has ended.
func (c *Client) Wait(ctx context.Context, id uint64) (Status, error) {
	for {
		s, err := c.Status(ctx, id)
		if err != nil || s.Ended() {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
