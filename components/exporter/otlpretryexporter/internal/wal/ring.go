package wal

// ring is a FIFO of records that reuses its backing array.
type ring struct {
	buf        []Record
	head, size int
}

func (r *ring) len() int { return r.size }

func (r *ring) push(rec Record) {
	if r.size == len(r.buf) {
		n := max(16, 2*len(r.buf))
		buf := make([]Record, n)
		for i := 0; i < r.size; i++ {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.size)%len(r.buf)] = rec
	r.size++
}

func (r *ring) front() *Record { return &r.buf[r.head] }

func (r *ring) pop() Record {
	rec := r.buf[r.head]
	r.buf[r.head] = Record{} // let the payload go
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return rec
}
