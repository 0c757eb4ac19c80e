package uspsload

// The error types the external tests inspect.
type (
	ConfigError     = configError
	MismatchError   = mismatchError
	CheckpointError = checkpointError
	StoppedError    = stoppedError
)
