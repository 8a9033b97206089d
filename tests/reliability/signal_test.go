package reliability

import "syscall"

const sigterm = syscall.SIGTERM
