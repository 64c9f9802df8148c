package jqclient

// Jobs (PROTOCOL.md 11): Submit, Wait, Run (a job bound to a context:
// its deadline becomes the job's, its cancellation cancels the job), Job,
// Jobs, Cancel, Group, and the 1.3 operations Retry and Purge.

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// JobSpec is what submit takes (11.3); zero values are left out.
type JobSpec struct {
	Argv       []string
	Env        map[string]string
	Cwd        string // relative to jqd's job directory; "" = the job directory
	Stdin      string
	Name       string
	Group      string
	Key        string // idempotency key: a repeat answers the first job's id
	ResultChan string
	Pool       string // 1.2; "" = "local"
	Parent     int64
	Priority   int
	Retries    int
	// Timeout is the job's deadline relative to its submission; Deadline
	// an absolute one (converted to the server's clock); the earlier wins.
	Timeout    time.Duration
	Deadline   time.Time
	RunTimeout time.Duration // bounds each attempt
	Delay      time.Duration // do not start before submission + Delay
}

func (c *Client) submitReq(s JobSpec) map[string]any {
	req := map[string]any{"op": "submit", "argv": s.Argv}
	str := map[string]string{"cwd": s.Cwd, "stdin": s.Stdin, "name": s.Name, "group": s.Group,
		"key": s.Key, "result_chan": s.ResultChan, "pool": s.Pool}
	for k, v := range str {
		if v != "" {
			req[k] = v
		}
	}
	if len(s.Env) > 0 {
		req["env"] = s.Env
	}
	num := map[string]int64{"parent": s.Parent, "priority": int64(s.Priority), "retries": int64(s.Retries)}
	for k, v := range num {
		if v != 0 {
			req[k] = v
		}
	}
	if s.Timeout > 0 {
		req["timeout_ms"] = durMs(s.Timeout)
	}
	if !s.Deadline.IsZero() {
		ms := c.serverMs(s.Deadline)
		if ms < 0 {
			ms = 0
		}
		req["deadline_ms"] = ms
	}
	if s.RunTimeout > 0 {
		req["run_timeout_ms"] = durMs(s.RunTimeout)
	}
	if s.Delay > 0 {
		req["delay_ms"] = durMs(s.Delay)
	}
	return req
}

// Submit submits a job and returns its id.  With a Key it is repeated
// after a lost connection (a repeat the server knows answers the first
// job's id); without one a lost reply is ErrOutcomeUnknown.
func (c *Client) Submit(ctx context.Context, s JobSpec) (int64, error) {
	id, _, err := c.SubmitDup(ctx, s)
	return id, err
}

// SubmitDup is Submit that also says whether the key named a job that
// existed already (duplicate: nothing was created).
func (c *Client) SubmitDup(ctx context.Context, s JobSpec) (id int64, duplicate bool, err error) {
	var r struct {
		Job       int64 `json:"job"`
		Duplicate bool  `json:"duplicate"`
	}
	err = c.do(ctx, callSpec{op: "submit", req: c.submitReq(s), retry: s.Key != "", out: &r})
	return r.Job, r.Duplicate, err
}

// Progress is a job's latest progress line.
type Progress struct {
	Done  int64  `json:"done"`
	Total *int64 `json:"total"`
}

// Result is the result object (11.2); nullable members are pointers.
type Result struct {
	Job             int64     `json:"job"`
	Name            *string   `json:"name"`
	Group           *string   `json:"group"`
	State           string    `json:"state"`
	ExitCode        *int      `json:"exit_code"`
	Signal          *int      `json:"signal"`
	Error           *string   `json:"error"`
	Stdout          string    `json:"stdout"`
	Stderr          string    `json:"stderr"`
	StdoutTruncated bool      `json:"stdout_truncated"`
	StderrTruncated bool      `json:"stderr_truncated"`
	Progress        *Progress `json:"progress"`
	Attempt         int       `json:"attempt"`
	SubmittedMs     int64     `json:"submitted_ms"`
	StartedMs       *int64    `json:"started_ms"`
	FinishedMs      *int64    `json:"finished_ms"`
	DeadlineMs      *int64    `json:"deadline_ms"`
	Parent          *int64    `json:"parent"`
	Priority        int       `json:"priority"`
	Pool            string    `json:"pool"`
	Worker          *string   `json:"worker"`
	Argv            []string  `json:"argv"`
	NotBeforeMs     *int64    `json:"not_before_ms"`
	RetryOf         *int64    `json:"retry_of"`
}

// The job states (11.1); later servers may add more.
const (
	StateQueued           = "queued"
	StateRunning          = "running"
	StateSucceeded        = "succeeded"
	StateFailed           = "failed"
	StateDeadlineExceeded = "deadline_exceeded"
	StateCanceled         = "canceled"
)

// Final reports whether the job reached a final state.
func (r *Result) Final() bool {
	switch r.State {
	case StateSucceeded, StateFailed, StateDeadlineExceeded, StateCanceled:
		return true
	}
	return false
}

// WaitOptions: NoOutput leaves stdout and stderr out of the results.
type WaitOptions struct{ NoOutput bool }

// Wait waits until the jobs are final and returns their results (by id).
// It is repeated across reconnects; the context's deadline becomes the
// wait's timeout_ms (ErrTimeout, *Error.Pending says how many remain).
func (c *Client) Wait(ctx context.Context, ids []int64, o WaitOptions) ([]Result, error) {
	return c.wait(ctx, map[string]any{"op": "wait", "jobs": ids}, o)
}

// WaitGroup waits until the group has no queued or running job.
func (c *Client) WaitGroup(ctx context.Context, group string, o WaitOptions) ([]Result, error) {
	return c.wait(ctx, map[string]any{"op": "wait", "group": group}, o)
}

func (c *Client) wait(ctx context.Context, req map[string]any, o WaitOptions) ([]Result, error) {
	if o.NoOutput {
		req["output"] = false
	}
	var r struct {
		Results []Result `json:"results"`
	}
	err := c.do(ctx, callSpec{op: "wait", req: req, retry: true, blocking: true, out: &r})
	return r.Results, err
}

// Run submits s and waits for its result, as a job bound to ctx: the
// context's deadline (if earlier than s's) becomes the job's deadline,
// and a context that ends first cancels the job (Run then returns the
// context's error).  Without a Key one is made, so the submit is repeated
// safely across reconnects.
func (c *Client) Run(ctx context.Context, s JobSpec) (Result, error) {
	if s.Key == "" {
		s.Key = NewKey()
	}
	if d, ok := ctx.Deadline(); ok && (s.Deadline.IsZero() || d.Before(s.Deadline)) {
		s.Deadline = d
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	// The submit is not cut short by ctx (it never blocks): Run must know
	// the id of a job it may have made, to cancel it if ctx ends.
	bg, cancel := context.WithTimeout(context.Background(), abortWait)
	defer cancel()
	id, err := c.Submit(bg, s)
	if err != nil {
		return Result{}, err
	}
	rs, err := c.Wait(ctx, []int64{id}, WaitOptions{})
	if err == nil && len(rs) == 1 {
		return rs[0], nil
	}
	if ctx.Err() != nil {
		c.Cancel(bg, id)
		return Result{Job: id}, ctx.Err()
	}
	if err == nil {
		err = errors.New("jqclient: wait answered without the job")
	}
	return Result{Job: id}, err
}

// Job returns a job's result as it is now.
func (c *Client) Job(ctx context.Context, id int64) (Result, error) {
	var r Result
	err := c.do(ctx, callSpec{op: "job", req: map[string]any{"op": "job", "job": id}, retry: true, out: &r})
	return r, err
}

// JobsFilter selects jobs (11.11): zero values mean any; Limit ≤ 1000
// (0: the server's 100); Before pages (the last id of the previous page).
type JobsFilter struct {
	State  string
	Group  string
	Limit  int
	Before int64
}

// Jobs lists retained jobs, newest first, without their output.
func (c *Client) Jobs(ctx context.Context, f JobsFilter) ([]Result, error) {
	req := map[string]any{"op": "jobs"}
	if f.State != "" {
		req["state"] = f.State
	}
	if f.Group != "" {
		req["group"] = f.Group
	}
	if f.Limit > 0 {
		req["limit"] = f.Limit
	}
	if f.Before > 0 {
		req["before"] = f.Before
	}
	var r struct {
		Jobs []Result `json:"jobs"`
	}
	err := c.do(ctx, callSpec{op: "jobs", req: req, retry: true, out: &r})
	return r.Jobs, err
}

// Cancel cancels a job and its descendants; it returns how many jobs this
// request started to cancel (repeats count 0).
func (c *Client) Cancel(ctx context.Context, id int64) (int, error) {
	return c.cancel(ctx, map[string]any{"op": "cancel", "job": id})
}

// CancelGroup cancels every job of a group.
func (c *Client) CancelGroup(ctx context.Context, group string) (int, error) {
	return c.cancel(ctx, map[string]any{"op": "cancel", "group": group})
}

func (c *Client) cancel(ctx context.Context, req map[string]any) (int, error) {
	var r struct {
		Canceled int `json:"canceled"`
	}
	err := c.do(ctx, callSpec{op: "cancel", req: req, retry: true, out: &r})
	return r.Canceled, err
}

// GroupInfo counts a group's jobs by state (11.14).
type GroupInfo struct {
	Group            string   `json:"group"`
	Total            int      `json:"total"`
	Queued           int      `json:"queued"`
	Running          int      `json:"running"`
	Succeeded        int      `json:"succeeded"`
	Failed           int      `json:"failed"`
	DeadlineExceeded int      `json:"deadline_exceeded"`
	Canceled         int      `json:"canceled"`
	Progress         Progress `json:"progress"`
}

// Group returns a group's counts.
func (c *Client) Group(ctx context.Context, name string) (GroupInfo, error) {
	var g GroupInfo
	err := c.do(ctx, callSpec{op: "group", req: map[string]any{"op": "group", "group": name}, retry: true, out: &g})
	return g, err
}

// Retry submits a failed, deadline_exceeded or canceled job again as a
// new job (1.3) and returns its id.  Not repeated after a lost
// connection (each retry makes a job): ErrOutcomeUnknown.
func (c *Client) Retry(ctx context.Context, id int64) (int64, error) {
	var r struct {
		Job int64 `json:"job"`
	}
	err := c.do(ctx, callSpec{op: "retry", req: map[string]any{"op": "retry", "job": id}, out: &r})
	return r.Job, err
}

// PurgeFilter selects finished jobs to delete (1.3); zero values: any.
type PurgeFilter struct {
	State     string
	Group     string
	Before    time.Time     // finished before (converted to the server's clock)
	OlderThan time.Duration // finished at least this long ago
}

// Purge deletes matching finished jobs now and returns how many.
func (c *Client) Purge(ctx context.Context, f PurgeFilter) (int, error) {
	req := map[string]any{"op": "purge"}
	if f.State != "" {
		req["state"] = f.State
	}
	if f.Group != "" {
		req["group"] = f.Group
	}
	if !f.Before.IsZero() {
		req["before_ms"] = c.serverMs(f.Before)
	}
	if f.OlderThan > 0 {
		req["older_than_ms"] = f.OlderThan.Milliseconds()
	}
	var r struct {
		Purged int `json:"purged"`
	}
	err := c.do(ctx, callSpec{op: "purge", req: req, retry: true, out: &r})
	return r.Purged, err
}

// Stats returns the server's stats (9.4), member by member as raw JSON:
// its members grow with versions.
func (c *Client) Stats(ctx context.Context) (map[string]json.RawMessage, error) {
	var r map[string]json.RawMessage
	err := c.do(ctx, callSpec{op: "stats", req: map[string]any{"op": "stats"}, retry: true, out: &r})
	delete(r, "id")
	delete(r, "ok")
	return r, err
}

// PoolRequest changes a pool (1.3): Pause/Workers nil leave it as it is.
type PoolRequest struct {
	Pool    string // "" = "local"
	Pause   *bool
	Workers *int // jqd's own slots; pool local only
}

// PoolInfo is the pool's state after the request.
type PoolInfo struct {
	Pool    string `json:"pool"`
	Paused  bool   `json:"paused"`
	Queued  int    `json:"queued"`
	Running int    `json:"running"`
	Workers *int   `json:"workers"`
}

// Pool shows a pool, pausing, resuming or resizing it first if asked.
func (c *Client) Pool(ctx context.Context, p PoolRequest) (PoolInfo, error) {
	req := map[string]any{"op": "pool"}
	if p.Pool != "" {
		req["pool"] = p.Pool
	}
	if p.Pause != nil {
		req["pause"] = *p.Pause
	}
	if p.Workers != nil {
		req["workers"] = *p.Workers
	}
	var r PoolInfo
	err := c.do(ctx, callSpec{op: "pool", req: req, retry: true, out: &r})
	return r, err
}

// WorkerInfo is one agent in the workers listing (11.23).
type WorkerInfo struct {
	Worker          string            `json:"worker"`
	Host            *string           `json:"host"`
	Pid             *int              `json:"pid"`
	Version         *string           `json:"version"`
	Pools           []string          `json:"pools"`
	Labels          map[string]string `json:"labels"`
	Slots           int               `json:"slots"`
	Busy            int               `json:"busy"`
	State           string            `json:"state"`
	RegisteredMs    *int64            `json:"registered_ms"`
	LastHeartbeatMs *int64            `json:"last_heartbeat_ms"`
	Attempts        []struct {
		Job     int64 `json:"job"`
		Attempt int   `json:"attempt"`
	} `json:"attempts"`
}

// Workers lists the remote workers (1.2).
func (c *Client) Workers(ctx context.Context) ([]WorkerInfo, error) {
	var r struct {
		Workers []WorkerInfo `json:"workers"`
	}
	err := c.do(ctx, callSpec{op: "workers", req: map[string]any{"op": "workers"}, retry: true, out: &r})
	return r.Workers, err
}
