package records

// Token is what an inventory read records of a PKCS#11 token it listed
// (inventory.Result.Tokens): enough to tell a replaced or re-initialised
// device from the one read before.
type Token struct {
	Label        string `json:"label"`
	Serial       string `json:"serial"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	// FirmwareVersion and HardwareVersion are "major.minor".
	FirmwareVersion string `json:"firmware_version,omitempty"`
	HardwareVersion string `json:"hardware_version,omitempty"`
}
