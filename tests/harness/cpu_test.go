package harness

import "testing"

func TestParseStatCPU(t *testing.T) {
	cpu, err := ParseStatCPU("1234 (otl (col)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0")
	if err != nil || cpu != 3.0 {
		t.Errorf("ParseStatCPU = %v, %v; want 3 s", cpu, err)
	}
	if _, err := ParseStatCPU("garbage"); err == nil {
		t.Error("ParseStatCPU accepted garbage")
	}
	busy, total, err := ParseMachineCPU("cpu  100 5 50 800 45 0 0 0 30 0")
	if err != nil || busy != 1.55 || total != 10 {
		t.Errorf("ParseMachineCPU = %v, %v, %v; want 1.55 busy of 10 s", busy, total, err)
	}
	if _, _, err := ParseMachineCPU("intr 1 2 3"); err == nil {
		t.Error("ParseMachineCPU accepted another line")
	}
}

func TestParseStatusBytes(t *testing.T) {
	status := "Name:\totlpcol\nVmPeak:\t  900 kB\nVmHWM:\t  2048 kB\nVmRSS:\t 1000 kB\n"
	if v, err := ParseStatusBytes(status, "VmHWM"); err != nil || v != 2048<<10 {
		t.Errorf("VmHWM = %v, %v", v, err)
	}
	if v, err := ParseStatusBytes(status, "VmRSS"); err != nil || v != 1000<<10 {
		t.Errorf("VmRSS = %v, %v", v, err)
	}
	if _, err := ParseStatusBytes(status, "VmSwap"); err == nil {
		t.Error("a missing field gave no error")
	}
}
