package bench

import (
	"crypto/sha256"
	"math"
	"os"
	"testing"
)

// TestProcessCPUReadsProc: the CPU /proc says this process used agrees
// with getrusage's, after enough work that both count it.
func TestProcessCPUReadsProc(t *testing.T) {
	b := make([]byte, 1<<20)
	for cpuSeconds() < 0.3 {
		sum := sha256.Sum256(b)
		b[0] = sum[0]
	}
	proc, self := processCPU(os.Getpid()), cpuSeconds()
	if proc <= 0 || math.Abs(proc-self) > 0.05 {
		t.Errorf("processCPU = %.3f s, getrusage says %.3f s", proc, self)
	}
	if got := processCPU(-1); got != 0 {
		t.Errorf("processCPU of no process = %v, want 0", got)
	}
}
