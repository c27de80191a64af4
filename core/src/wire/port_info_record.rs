//! PortInfoRecord (IBA 15.2.5.3): a port's PortInfo (IBA 14.2.5.6), by LID and port number.

use bitflags::bitflags;
use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::attribute_id::AttributeId;
use super::describe::{code, Describe, Value, Visitor};
use super::error::{Error, Result};
use super::record::{view, view_mut, SaAttribute};

/// Length of a PortInfoRecord (OpenSM pads it to 72 with AttributeOffset 9).
pub const LEN: usize = 68;

open_enum! {
    /// PortInfo PortState.
    pub enum PortState(u8) {
        /// No state change (in Set).
        NoChange = 0 => "no change",
        /// Down.
        Down = 1 => "down",
        /// Initialize.
        Init = 2 => "init",
        /// Armed.
        Armed = 3 => "armed",
        /// Active.
        Active = 4 => "active",
        /// Active, deferred.
        ActiveDefer = 5 => "active defer",
    }
}

/// PortInfo as laid out on the wire. Nibble-packed bytes are named after both fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct PortInfo {
    /// M_Key.
    pub m_key: U64,
    /// GidPrefix.
    pub gid_prefix: U64,
    /// LID.
    pub lid: U16,
    /// MasterSMLID.
    pub master_sm_lid: U16,
    /// CapabilityMask.
    pub capability_mask: U32,
    /// DiagCode.
    pub diag_code: U16,
    /// M_KeyLeasePeriod.
    pub m_key_lease_period: U16,
    /// LocalPortNum.
    pub local_port_num: u8,
    /// LinkWidthEnabled.
    pub link_width_enabled: u8,
    /// LinkWidthSupported.
    pub link_width_supported: u8,
    /// LinkWidthActive.
    pub link_width_active: u8,
    /// LinkSpeedSupported (4) | PortState (4).
    pub speed_supported_state: u8,
    /// PortPhysicalState (4) | LinkDownDefaultState (4).
    pub phys_state_down_default: u8,
    /// M_KeyProtectBits (2) | Reserved (3) | LMC (3).
    pub mkey_protect_lmc: u8,
    /// LinkSpeedActive (4) | LinkSpeedEnabled (4).
    pub speed_active_enabled: u8,
    /// NeighborMTU (4) | MasterSMSL (4).
    pub neighbor_mtu_sm_sl: u8,
    /// VLCap (4) | InitType (4).
    pub vl_cap_init_type: u8,
    /// VLHighLimit.
    pub vl_high_limit: u8,
    /// VLArbitrationHighCap.
    pub vl_arbitration_high_cap: u8,
    /// VLArbitrationLowCap.
    pub vl_arbitration_low_cap: u8,
    /// InitTypeReply (4) | MTUCap (4).
    pub init_type_reply_mtu_cap: u8,
    /// VLStallCount (3) | HOQLife (5).
    pub vl_stall_hoq_life: u8,
    /// OperationalVLs (4) | PartitionEnforcementInbound (1) | ...Outbound (1) |
    /// FilterRawInbound (1) | FilterRawOutbound (1).
    pub op_vls_enforcement: u8,
    /// M_KeyViolations.
    pub m_key_violations: U16,
    /// P_KeyViolations.
    pub p_key_violations: U16,
    /// Q_KeyViolations.
    pub q_key_violations: U16,
    /// GUIDCap.
    pub guid_cap: u8,
    /// ClientReregister (1) | MulticastPKeyTrapSuppressionEnabled (2) | SubnetTimeOut (5).
    pub rereg_subnet_timeout: u8,
    /// Reserved (3) | RespTimeValue (5).
    pub resp_time_value: u8,
    /// LocalPhyErrors (4) | OverrunErrors (4).
    pub phy_overrun_errors: u8,
    /// MaxCreditHint.
    pub max_credit_hint: U16,
    /// Reserved (8) | LinkRoundTripLatency (24).
    pub link_round_trip_latency: U32,
    /// CapabilityMask2.
    pub capability_mask2: U16,
    /// LinkSpeedExtActive (4) | LinkSpeedExtSupported (4).
    pub speed_ext_active_supported: u8,
    /// Reserved (3) | LinkSpeedExtEnabled (5).
    pub speed_ext_enabled: u8,
}

/// Printed as its [`PortInfoRepr`].
#[cfg(feature = "defmt")]
impl defmt::Format for PortInfo {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "{}", PortInfoRepr::parse(self))
    }
}

/// A PortInfoRecord as laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Record {
    /// EndportLID.
    pub endport_lid: U16,
    /// PortNum.
    pub port_num: u8,
    /// Options.
    pub options: u8,
    /// PortInfo.
    pub port_info: PortInfo,
}

/// Printed as the fields of its [`Repr`].
#[cfg(feature = "defmt")]
impl defmt::Format for Record {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "Repr {{ endport_lid: {=u16}, port_num: {=u8}, options: {=u8}, port_info: {} }}",
            self.endport_lid.get(),
            self.port_num,
            self.options,
            PortInfoRepr::parse(&self.port_info)
        )
    }
}

bitflags! {
    /// PortInfoRecord ComponentMask bits most queries use. Bits 3.. follow PortInfo's fields in
    /// order (IBA table 195); any bit may be set with `from_bits_retain`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct PortInfoRecordMask: u64 {
        /// EndportLID.
        const ENDPORT_LID = 1 << 0;
        /// PortNum.
        const PORT_NUM = 1 << 1;
        /// Options.
        const OPTIONS = 1 << 2;
        /// M_Key.
        const M_KEY = 1 << 3;
        /// GidPrefix.
        const GID_PREFIX = 1 << 4;
        /// LID.
        const LID = 1 << 5;
        /// MasterSMLID.
        const MASTER_SM_LID = 1 << 6;
        /// CapabilityMask.
        const CAPABILITY_MASK = 1 << 7;
        /// PortState.
        const PORT_STATE = 1 << 15;
        /// LMC.
        const LMC = 1 << 20;
        /// MasterSMSL.
        const MASTER_SM_SL = 1 << 24;
        /// ClientReregister.
        const CLIENT_REREGISTER = 1 << 43;
        /// CapabilityMask2.
        const CAPABILITY_MASK2 = 1 << 53;
        const _ = !0;
    }
}

defmt_bits!(PortInfoRecordMask);

/// PortInfo, decoded. Sub-byte fields are plain integers of their width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(missing_docs)] // field names are the IBA names in snake case; see `PortInfo` for widths
pub struct PortInfoRepr {
    pub m_key: u64,
    pub gid_prefix: u64,
    pub lid: u16,
    pub master_sm_lid: u16,
    pub capability_mask: u32,
    pub diag_code: u16,
    pub m_key_lease_period: u16,
    pub local_port_num: u8,
    pub link_width_enabled: u8,
    pub link_width_supported: u8,
    pub link_width_active: u8,
    pub link_speed_supported: u8,
    pub port_state: u8,
    pub port_physical_state: u8,
    pub link_down_default_state: u8,
    pub m_key_protect_bits: u8,
    pub lmc: u8,
    pub link_speed_active: u8,
    pub link_speed_enabled: u8,
    pub neighbor_mtu: u8,
    pub master_sm_sl: u8,
    pub vl_cap: u8,
    pub init_type: u8,
    pub vl_high_limit: u8,
    pub vl_arbitration_high_cap: u8,
    pub vl_arbitration_low_cap: u8,
    pub init_type_reply: u8,
    pub mtu_cap: u8,
    pub vl_stall_count: u8,
    pub hoq_life: u8,
    pub operational_vls: u8,
    pub partition_enforcement_inbound: bool,
    pub partition_enforcement_outbound: bool,
    pub filter_raw_inbound: bool,
    pub filter_raw_outbound: bool,
    pub m_key_violations: u16,
    pub p_key_violations: u16,
    pub q_key_violations: u16,
    pub guid_cap: u8,
    pub client_reregister: bool,
    pub multicast_pkey_trap_suppression: u8,
    pub subnet_timeout: u8,
    pub resp_time_value: u8,
    pub local_phy_errors: u8,
    pub overrun_errors: u8,
    pub max_credit_hint: u16,
    pub link_round_trip_latency: u32,
    pub capability_mask2: u16,
    pub link_speed_ext_active: u8,
    pub link_speed_ext_supported: u8,
    pub link_speed_ext_enabled: u8,
}

const fn hi(b: u8) -> u8 {
    b >> 4
}
const fn lo(b: u8) -> u8 {
    b & 0xf
}

/// Packs two nibbles, checking each fits.
fn nibbles(field: &'static str, high: u8, low: u8) -> Result<u8> {
    if high > 0xf || low > 0xf {
        return Err(Error::FieldOverflow { field });
    }
    Ok((high << 4) | low)
}

impl PortInfoRepr {
    /// The PortState nibble, typed.
    pub fn state(&self) -> PortState {
        PortState::from_raw(self.port_state)
    }

    /// Decodes PortInfo; reserved bits are ignored.
    pub fn parse(p: &PortInfo) -> PortInfoRepr {
        PortInfoRepr {
            m_key: p.m_key.get(),
            gid_prefix: p.gid_prefix.get(),
            lid: p.lid.get(),
            master_sm_lid: p.master_sm_lid.get(),
            capability_mask: p.capability_mask.get(),
            diag_code: p.diag_code.get(),
            m_key_lease_period: p.m_key_lease_period.get(),
            local_port_num: p.local_port_num,
            link_width_enabled: p.link_width_enabled,
            link_width_supported: p.link_width_supported,
            link_width_active: p.link_width_active,
            link_speed_supported: hi(p.speed_supported_state),
            port_state: lo(p.speed_supported_state),
            port_physical_state: hi(p.phys_state_down_default),
            link_down_default_state: lo(p.phys_state_down_default),
            m_key_protect_bits: p.mkey_protect_lmc >> 6,
            lmc: p.mkey_protect_lmc & 0x7,
            link_speed_active: hi(p.speed_active_enabled),
            link_speed_enabled: lo(p.speed_active_enabled),
            neighbor_mtu: hi(p.neighbor_mtu_sm_sl),
            master_sm_sl: lo(p.neighbor_mtu_sm_sl),
            vl_cap: hi(p.vl_cap_init_type),
            init_type: lo(p.vl_cap_init_type),
            vl_high_limit: p.vl_high_limit,
            vl_arbitration_high_cap: p.vl_arbitration_high_cap,
            vl_arbitration_low_cap: p.vl_arbitration_low_cap,
            init_type_reply: hi(p.init_type_reply_mtu_cap),
            mtu_cap: lo(p.init_type_reply_mtu_cap),
            vl_stall_count: p.vl_stall_hoq_life >> 5,
            hoq_life: p.vl_stall_hoq_life & 0x1f,
            operational_vls: hi(p.op_vls_enforcement),
            partition_enforcement_inbound: p.op_vls_enforcement & 0x8 != 0,
            partition_enforcement_outbound: p.op_vls_enforcement & 0x4 != 0,
            filter_raw_inbound: p.op_vls_enforcement & 0x2 != 0,
            filter_raw_outbound: p.op_vls_enforcement & 0x1 != 0,
            m_key_violations: p.m_key_violations.get(),
            p_key_violations: p.p_key_violations.get(),
            q_key_violations: p.q_key_violations.get(),
            guid_cap: p.guid_cap,
            client_reregister: p.rereg_subnet_timeout & 0x80 != 0,
            multicast_pkey_trap_suppression: (p.rereg_subnet_timeout >> 5) & 0x3,
            subnet_timeout: p.rereg_subnet_timeout & 0x1f,
            resp_time_value: p.resp_time_value & 0x1f,
            local_phy_errors: hi(p.phy_overrun_errors),
            overrun_errors: lo(p.phy_overrun_errors),
            max_credit_hint: p.max_credit_hint.get(),
            link_round_trip_latency: p.link_round_trip_latency.get() & 0x00ff_ffff,
            capability_mask2: p.capability_mask2.get(),
            link_speed_ext_active: hi(p.speed_ext_active_supported),
            link_speed_ext_supported: lo(p.speed_ext_active_supported),
            link_speed_ext_enabled: p.speed_ext_enabled & 0x1f,
        }
    }

    /// Writes PortInfo; fails if a sub-byte field exceeds its width.
    pub fn emit(&self, p: &mut PortInfo) -> Result<()> {
        use super::bits::fits;
        fits("m_key_protect_bits", self.m_key_protect_bits as u32, 2)?;
        fits("lmc", self.lmc as u32, 3)?;
        fits("vl_stall_count", self.vl_stall_count as u32, 3)?;
        fits("hoq_life", self.hoq_life as u32, 5)?;
        fits("multicast_pkey_trap_suppression", self.multicast_pkey_trap_suppression as u32, 2)?;
        fits("subnet_timeout", self.subnet_timeout as u32, 5)?;
        fits("resp_time_value", self.resp_time_value as u32, 5)?;
        fits("link_round_trip_latency", self.link_round_trip_latency, 24)?;
        fits("link_speed_ext_enabled", self.link_speed_ext_enabled as u32, 5)?;
        *p = PortInfo {
            m_key: U64::new(self.m_key),
            gid_prefix: U64::new(self.gid_prefix),
            lid: U16::new(self.lid),
            master_sm_lid: U16::new(self.master_sm_lid),
            capability_mask: U32::new(self.capability_mask),
            diag_code: U16::new(self.diag_code),
            m_key_lease_period: U16::new(self.m_key_lease_period),
            local_port_num: self.local_port_num,
            link_width_enabled: self.link_width_enabled,
            link_width_supported: self.link_width_supported,
            link_width_active: self.link_width_active,
            speed_supported_state: nibbles("port_state", self.link_speed_supported, self.port_state)?,
            phys_state_down_default: nibbles(
                "port_physical_state",
                self.port_physical_state,
                self.link_down_default_state,
            )?,
            mkey_protect_lmc: (self.m_key_protect_bits << 6) | self.lmc,
            speed_active_enabled: nibbles(
                "link_speed_active",
                self.link_speed_active,
                self.link_speed_enabled,
            )?,
            neighbor_mtu_sm_sl: nibbles("neighbor_mtu", self.neighbor_mtu, self.master_sm_sl)?,
            vl_cap_init_type: nibbles("vl_cap", self.vl_cap, self.init_type)?,
            vl_high_limit: self.vl_high_limit,
            vl_arbitration_high_cap: self.vl_arbitration_high_cap,
            vl_arbitration_low_cap: self.vl_arbitration_low_cap,
            init_type_reply_mtu_cap: nibbles("mtu_cap", self.init_type_reply, self.mtu_cap)?,
            vl_stall_hoq_life: (self.vl_stall_count << 5) | self.hoq_life,
            op_vls_enforcement: nibbles(
                "operational_vls",
                self.operational_vls,
                ((self.partition_enforcement_inbound as u8) << 3)
                    | ((self.partition_enforcement_outbound as u8) << 2)
                    | ((self.filter_raw_inbound as u8) << 1)
                    | self.filter_raw_outbound as u8,
            )?,
            m_key_violations: U16::new(self.m_key_violations),
            p_key_violations: U16::new(self.p_key_violations),
            q_key_violations: U16::new(self.q_key_violations),
            guid_cap: self.guid_cap,
            rereg_subnet_timeout: ((self.client_reregister as u8) << 7)
                | (self.multicast_pkey_trap_suppression << 5)
                | self.subnet_timeout,
            resp_time_value: self.resp_time_value,
            phy_overrun_errors: nibbles("local_phy_errors", self.local_phy_errors, self.overrun_errors)?,
            max_credit_hint: U16::new(self.max_credit_hint),
            link_round_trip_latency: U32::new(self.link_round_trip_latency),
            capability_mask2: U16::new(self.capability_mask2),
            speed_ext_active_supported: nibbles(
                "link_speed_ext_active",
                self.link_speed_ext_active,
                self.link_speed_ext_supported,
            )?,
            speed_ext_enabled: self.link_speed_ext_enabled,
        };
        Ok(())
    }
}

impl Describe for PortInfoRepr {
    fn describe(&self, v: &mut dyn Visitor) {
        let u = |x: u64| Value::Uint(x);
        let h = |x: u64, bits: u8| Value::Hex { value: x, bits };
        v.field("m_key", h(self.m_key, 64));
        v.field("gid_prefix", h(self.gid_prefix, 64));
        v.field("lid", u(self.lid as u64));
        v.field("master_sm_lid", u(self.master_sm_lid as u64));
        v.field("capability_mask", h(self.capability_mask as u64, 32));
        v.field("diag_code", h(self.diag_code as u64, 16));
        v.field("m_key_lease_period", u(self.m_key_lease_period as u64));
        v.field("local_port_num", u(self.local_port_num as u64));
        v.field("link_width_enabled", u(self.link_width_enabled as u64));
        v.field("link_width_supported", u(self.link_width_supported as u64));
        v.field("link_width_active", u(self.link_width_active as u64));
        v.field("link_speed_supported", u(self.link_speed_supported as u64));
        v.field("port_state", code(self.port_state as u64, self.state().name()));
        v.field("port_physical_state", u(self.port_physical_state as u64));
        v.field("link_down_default_state", u(self.link_down_default_state as u64));
        v.field("m_key_protect_bits", u(self.m_key_protect_bits as u64));
        v.field("lmc", u(self.lmc as u64));
        v.field("link_speed_active", u(self.link_speed_active as u64));
        v.field("link_speed_enabled", u(self.link_speed_enabled as u64));
        v.field("neighbor_mtu", u(self.neighbor_mtu as u64));
        v.field("master_sm_sl", u(self.master_sm_sl as u64));
        v.field("vl_cap", u(self.vl_cap as u64));
        v.field("init_type", u(self.init_type as u64));
        v.field("vl_high_limit", u(self.vl_high_limit as u64));
        v.field("vl_arbitration_high_cap", u(self.vl_arbitration_high_cap as u64));
        v.field("vl_arbitration_low_cap", u(self.vl_arbitration_low_cap as u64));
        v.field("init_type_reply", u(self.init_type_reply as u64));
        v.field("mtu_cap", u(self.mtu_cap as u64));
        v.field("vl_stall_count", u(self.vl_stall_count as u64));
        v.field("hoq_life", u(self.hoq_life as u64));
        v.field("operational_vls", u(self.operational_vls as u64));
        v.field("partition_enforcement_inbound", Value::Bool(self.partition_enforcement_inbound));
        v.field("partition_enforcement_outbound", Value::Bool(self.partition_enforcement_outbound));
        v.field("filter_raw_inbound", Value::Bool(self.filter_raw_inbound));
        v.field("filter_raw_outbound", Value::Bool(self.filter_raw_outbound));
        v.field("m_key_violations", u(self.m_key_violations as u64));
        v.field("p_key_violations", u(self.p_key_violations as u64));
        v.field("q_key_violations", u(self.q_key_violations as u64));
        v.field("guid_cap", u(self.guid_cap as u64));
        v.field("client_reregister", Value::Bool(self.client_reregister));
        v.field("multicast_pkey_trap_suppression", u(self.multicast_pkey_trap_suppression as u64));
        v.field("subnet_timeout", u(self.subnet_timeout as u64));
        v.field("resp_time_value", u(self.resp_time_value as u64));
        v.field("local_phy_errors", u(self.local_phy_errors as u64));
        v.field("overrun_errors", u(self.overrun_errors as u64));
        v.field("max_credit_hint", u(self.max_credit_hint as u64));
        v.field("link_round_trip_latency", u(self.link_round_trip_latency as u64));
        v.field("capability_mask2", h(self.capability_mask2 as u64, 16));
        v.field("link_speed_ext_active", u(self.link_speed_ext_active as u64));
        v.field("link_speed_ext_supported", u(self.link_speed_ext_supported as u64));
        v.field("link_speed_ext_enabled", u(self.link_speed_ext_enabled as u64));
    }
}

/// A PortInfoRecord, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// EndportLID.
    pub endport_lid: u16,
    /// PortNum.
    pub port_num: u8,
    /// Options.
    pub options: u8,
    /// PortInfo.
    pub port_info: PortInfoRepr,
}

impl SaAttribute for Repr {
    const ID: AttributeId = AttributeId::PortInfoRecord;
    const LEN: usize = LEN;

    fn decode(bytes: &[u8]) -> Result<Self> {
        let r = view::<Record>(Self::ID, bytes)?;
        Ok(Repr {
            endport_lid: r.endport_lid.get(),
            port_num: r.port_num,
            options: r.options,
            port_info: PortInfoRepr::parse(&r.port_info),
        })
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize> {
        let r = view_mut::<Record>(out)?;
        r.endport_lid.set(self.endport_lid);
        r.port_num = self.port_num;
        r.options = self.options;
        self.port_info.emit(&mut r.port_info)?;
        Ok(LEN)
    }
}

impl Describe for Repr {
    fn describe(&self, v: &mut dyn Visitor) {
        v.field("endport_lid", Value::Uint(self.endport_lid as u64));
        v.field("port_num", Value::Uint(self.port_num as u64));
        v.field("options", Value::Hex { value: self.options as u64, bits: 8 });
        v.begin("port_info");
        self.port_info.describe(v);
        v.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Clears the reserved bits of a PortInfoRecord's bytes.
    fn canonical(mut b: [u8; LEN]) -> [u8; LEN] {
        b[4 + 34] &= 0xc7; // reserved bits between M_KeyProtectBits and LMC
        b[4 + 52] &= 0x1f; // reserved bits above RespTimeValue
        b[4 + 56] = 0; // reserved byte above LinkRoundTripLatency
        b[4 + 63] &= 0x1f; // reserved bits above LinkSpeedExtEnabled
        b
    }

    proptest! {
        #[test]
        fn canonical_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), LEN)) {
            let mut buf = [0u8; LEN];
            buf.copy_from_slice(&bytes);
            let buf = canonical(buf);
            let repr = Repr::decode(&buf).unwrap();
            let mut out = [0u8; LEN];
            prop_assert_eq!(repr.encode(&mut out), Ok(LEN));
            prop_assert_eq!(&out[..], &buf[..]);
            prop_assert_eq!(Repr::decode(&out), Ok(repr));
        }
    }

    #[test]
    fn layout_and_fields() {
        assert_eq!(core::mem::size_of::<PortInfo>(), 64);
        assert_eq!(core::mem::size_of::<Record>(), LEN);
        let mut buf = [0u8; LEN];
        buf[4 + 32] = 0x14; // LinkSpeedSupported 1, PortState 4 (active)
        buf[4 + 34] = 0x02; // LMC 2
        buf[4 + 36] = 0x53; // NeighborMTU 5, MasterSMSL 3
        buf[4 + 51] = 0x92; // ClientReregister, SubnetTimeOut 18
        let r = Repr::decode(&buf).unwrap().port_info;
        assert_eq!(r.state(), PortState::Active);
        assert_eq!((r.lmc, r.neighbor_mtu, r.master_sm_sl), (2, 5, 3));
        assert!(r.client_reregister);
        assert_eq!(r.subnet_timeout, 18);
    }
}
