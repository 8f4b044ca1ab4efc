pub mod mock_hub;
pub mod parity;
