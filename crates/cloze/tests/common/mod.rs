pub mod mock_hub;
pub mod parity;

/// The device the device-generic tests (parity, gradients) run on: `CLOZE_TEST_DEVICE` (`cpu`,
/// `cuda`, `cuda:1`, `metal`), the CPU when it is unset. scripts/gpu-check.sh sets it to `cuda`.
#[allow(dead_code)]
pub fn test_device() -> candle_core::Device {
    let name = std::env::var("CLOZE_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
    let choice: cloze::plm::DeviceChoice =
        name.parse().unwrap_or_else(|e| panic!("CLOZE_TEST_DEVICE={name}: {e}"));
    choice.open().unwrap_or_else(|e| panic!("CLOZE_TEST_DEVICE={name}: {e}"))
}
