//! Input devices, as cpal's hosts list them.

use cpal::traits::{DeviceTrait, HostTrait};
use serde::Serialize;

/// One input device.
#[derive(Debug, Clone, Serialize)]
pub struct InputDevice {
    /// The host (backend): `alsa`, `jack`, ...
    pub host: String,
    /// cpal's id, `host:name`, e.g. `alsa:capstan_tape`.
    pub id: String,
    /// The name `--device` takes (the id without its host), e.g. `capstan_tape`.
    pub name: String,
    pub description: String,
    /// What the device says it accepts (for some, e.g. ALSA plugins, not to be trusted).
    pub configs: Vec<InputConfigRange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputConfigRange {
    pub channels: u16,
    pub min_rate: u32,
    pub max_rate: u32,
    pub format: String,
}

/// Why devices could not be listed or opened.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("audio host {host}: {detail}")]
    Host { host: String, detail: String },
    #[error("no input device {name:?}; `capstan devices` lists them")]
    NotFound { name: String },
}

/// Every input device of every available host.
pub fn input_devices() -> Result<Vec<InputDevice>, DeviceError> {
    let mut found = Vec::new();
    for host_id in cpal::available_hosts() {
        let host = cpal::host_from_id(host_id).map_err(|e| DeviceError::Host {
            host: format!("{host_id:?}"),
            detail: e.to_string(),
        })?;
        let devices = host.input_devices().map_err(|e| DeviceError::Host {
            host: format!("{host_id:?}"),
            detail: e.to_string(),
        })?;
        for d in devices {
            let Ok(id) = d.id() else { continue };
            let id = id.to_string();
            let (host_name, name) = id.split_once(':').unwrap_or(("", &id));
            let configs = d
                .supported_input_configs()
                .map(|c| {
                    c.map(|r| InputConfigRange {
                        channels: r.channels(),
                        min_rate: r.min_sample_rate(),
                        max_rate: r.max_sample_rate(),
                        format: r.sample_format().to_string(),
                    })
                    .collect()
                })
                .unwrap_or_default();
            found.push(InputDevice {
                host: host_name.to_string(),
                name: name.to_string(),
                description: d
                    .description()
                    .map(|d| d.name().to_string())
                    .unwrap_or_default(),
                id,
                configs,
            });
        }
    }
    Ok(found)
}

/// The input device called `name` (its id, or its id without the host).
pub fn open_input(name: &str) -> Result<cpal::Device, DeviceError> {
    find_device(name, Direction::Input).ok_or_else(|| DeviceError::NotFound { name: name.into() })
}

/// Which side of the interface a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Input,
    Output,
}

/// Every device of one direction on every host that answers, with cpal's id (`host:name`);
/// a host or device that cannot say is passed over.
pub(crate) fn host_devices(direction: Direction) -> Vec<(String, cpal::Device)> {
    let mut found = Vec::new();
    for host_id in cpal::available_hosts() {
        let Ok(host) = cpal::host_from_id(host_id) else {
            continue;
        };
        let devices: Box<dyn Iterator<Item = cpal::Device>> = match direction {
            Direction::Input => match host.input_devices() {
                Ok(d) => Box::new(d),
                Err(_) => continue,
            },
            Direction::Output => match host.output_devices() {
                Ok(d) => Box::new(d),
                Err(_) => continue,
            },
        };
        found.extend(devices.filter_map(|d| Some((d.id().ok()?.to_string(), d))));
    }
    found
}

/// The device of one direction called `name`: its id, or its id without the host.
pub(crate) fn find_device(name: &str, direction: Direction) -> Option<cpal::Device> {
    host_devices(direction)
        .into_iter()
        .find(|(id, _)| id == name || id.split_once(':').is_some_and(|(_, n)| n == name))
        .map(|(_, d)| d)
}

/// ALSA's pseudo-devices, which are no interface.
const NOT_INTERFACES: [&str; 5] = ["null", "default", "sysdefault", "pulse", "pipewire"];

/// The device `capture` uses when none is named: the first input that is a real interface,
/// else the demo tape.
pub fn default_input_name() -> String {
    input_devices()
        .ok()
        .and_then(|list| {
            list.into_iter()
                .find(|d| !NOT_INTERFACES.contains(&d.name.as_str()))
                .map(|d| d.name)
        })
        .unwrap_or_else(|| super::DEMO_DEVICE.to_string())
}
