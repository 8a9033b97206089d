package otlpretryexporter

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
)

// This file is the vocabulary of the chain: what an answer means, in one
// place. The transport stage classifies each failed attempt into a reason
// (classify.go); here each reason is given the action the chain takes, and
// the stages pass that action up to the one that can carry it out.

// Failure reasons, the `reason` attribute of the failures metric.
const (
	reasonRetryable = "retryable"
	reasonThrottled = "throttled"
	reasonAuth      = "auth"
	reasonRejected  = "rejected"
	reasonTooLarge  = "too_large"
	reasonPermanent = "permanent"
)

// action is what the chain does with a batch after an answer:
//   - deliver: nothing more; the batch is delivered;
//   - settled: nothing more; the batch was split and each part was placed
//     by its own pass through the chain (delivered, on disk, quarantined,
//     kept or dropped): the parts' joined answer goes back up as it is,
//     and no stage acts on (or counts) the batch again;
//   - retry: send it again after a backoff (or the server's delay), while
//     the retry budget lasts (retry stage);
//   - spool: retrying cannot help now (budget spent, credentials refused,
//     another permanent refusal, shutting down): write it to the dead
//     letter (placement);
//   - hold: spool found no room: keep it and retry every max_interval,
//     offering it to the dead letter again each time (placement); the queue
//     fills behind it and pushes back;
//   - keep: the caller's context ended or the process stops with the batch
//     placed nowhere: hand it back to the queue (placement, see keep);
//   - quarantine: the backend refuses the data as invalid: never retried,
//     written to the quarantine (placement);
//   - split: the backend takes smaller messages: halve it (split stage).
type action int

const (
	actDeliver action = iota
	actSettled
	actRetry
	actSpool
	actHold
	actKeep
	actQuarantine
	actSplit
)

// verdict is what one failed attempt means.
type verdict struct {
	reason string
	// delay is the server's throttle (RetryInfo, Retry-After); 0: use backoff.
	delay time.Duration
	// why is a short, stable description for the log.
	why string
}

// action is what the chain does after an attempt failed with v:
//   - retryable, throttled: retried with backoff (or the server's delay);
//   - auth: the credentials are refused, not the data: the batch is kept (dead
//     letter, or held), the circuit opens for dead_letter::replay_interval;
//   - rejected: the backend says the data is invalid: quarantined, never
//     retried or replayed;
//   - too_large: the backend takes smaller messages than this batch: split
//     in two and each half sent (split.go), down to a single item;
//   - permanent: any other refusal that retrying the same request cannot fix
//     (404, Unimplemented, ...): kept like auth, but the circuit stays closed.
func (v verdict) action() action {
	switch v.reason {
	case "":
		return actDeliver
	case reasonAuth, reasonPermanent:
		return actSpool
	case reasonRejected:
		return actQuarantine
	case reasonTooLarge:
		return actSplit
	default:
		return actRetry
	}
}

// answer is how a stage below placement tells the stages above it what to
// do with a batch, next to the error that says why. It unwraps to that
// error, so the answer that finally leaves the chain is the error itself.
type answer struct {
	act action
	v   verdict // of the last attempt, when there was one
	err error
}

func (a *answer) Error() string {
	if a.err == nil {
		return "settled part by part"
	}
	return a.err.Error()
}
func (a *answer) Unwrap() error { return a.err }

// decide returns err (nil: delivered) as an answer carrying act.
func decide(act action, v verdict, err error) error {
	return &answer{act: act, v: v, err: err}
}

// settled is the final answer for a batch that was settled part by part
// (err: the parts' joined answer, nil when every part was delivered or
// placed): no stage above acts on it again.
func settled(err error) error {
	return &answer{act: actSettled, err: err}
}

// actionOf reads what err asks the chain to do. nil is delivered; an error
// that no stage has answered (a queue's, the caller's context) is retried.
func actionOf(err error) (action, verdict) {
	if err == nil {
		return actDeliver, verdict{}
	}
	var a *answer
	if errors.As(err, &a) {
		return a.act, a.v
	}
	return actRetry, verdict{}
}

// cause strips the chain's answers from err: what leaves the chain is the
// error as the backend, the disk or the context said it (nil for a batch
// settled part by part whose parts all went somewhere).
func cause(err error) error {
	for {
		a, ok := err.(*answer)
		if !ok {
			return err
		}
		err = a.err
	}
}

// joinVerdicts combines the answers of a split batch's parts. The batch is
// settled only when every part is: if any part is retryable (kept for later,
// e.g. left in the log at shutdown), the whole answer must be retryable, or
// the caller (the log, a persistent queue) would acknowledge the batch and
// lose that part. errors.Join would not do: consumererror.IsPermanent finds
// a Permanent in any branch. The permanent parts' text is kept, unwrapped.
func joinVerdicts(errs ...error) error {
	var retryable, permanent []error
	for _, err := range errs {
		switch {
		case err == nil:
		case consumererror.IsPermanent(err):
			permanent = append(permanent, err)
		default:
			retryable = append(retryable, err)
		}
	}
	if len(retryable) == 0 {
		return errors.Join(permanent...)
	}
	if len(permanent) == 0 {
		return errors.Join(retryable...)
	}
	return fmt.Errorf("%w (other parts settled permanently: %s)", errors.Join(retryable...), errors.Join(permanent...).Error())
}
