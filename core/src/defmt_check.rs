//! Every public type implements `defmt::Format` under the `defmt` feature: this module names
//! each one, so a type without an implementation fails the `defmt` build, and
//! `scripts/defmt-coverage` (run by `scripts/test`) fails when a public struct or enum is not
//! named here.

fn format<T: defmt::Format + ?Sized>() {}

const _: fn() = || {
    use crate::{engine, rmpp, table, time, wire};

    format::<time::Instant>();
    format::<time::Duration>();

    format::<wire::address::Grh>();
    format::<wire::address::MadAddress>();
    format::<wire::attribute_id::AttributeId>();
    format::<wire::class_port_info::Record>();
    format::<wire::class_port_info::ClassCapabilities>();
    format::<wire::class_port_info::Repr>();
    format::<wire::describe::Value<'static>>();
    format::<wire::encoding::Selector>();
    format::<wire::encoding::Mtu>();
    format::<wire::encoding::Rate>();
    format::<wire::encoding::PacketLifetime>();
    format::<wire::error::Layer>();
    format::<wire::error::Error>();
    format::<wire::gid::Gid>();
    format::<wire::inform_info::Record>();
    format::<wire::inform_info::Repr>();
    format::<wire::inform_info_record::Record>();
    format::<wire::inform_info_record::Repr>();
    format::<wire::mad_header::Header>();
    format::<wire::mad_header::Repr>();
    format::<wire::mcmember_record::Record>();
    format::<wire::mcmember_record::McMemberRecordMask>();
    format::<wire::mcmember_record::JoinState>();
    format::<wire::mcmember_record::Repr>();
    format::<wire::method::Method>();
    format::<wire::method::MgmtClass>();
    format::<wire::multipath_record::Record>();
    format::<wire::multipath_record::MultiPathRecordMask>();
    format::<wire::multipath_record::Repr>();
    format::<wire::node_record::NodeType>();
    format::<wire::node_record::NodeInfo>();
    format::<wire::node_record::Record>();
    format::<wire::node_record::NodeRecordMask>();
    format::<wire::node_record::Repr>();
    format::<wire::notice::NoticeType>();
    format::<wire::notice::ProducerType>();
    format::<wire::notice::TrapNumber>();
    format::<wire::notice::Origin>();
    format::<wire::notice::Record>();
    format::<wire::notice::Repr>();
    format::<wire::notice::TrapDetails>();
    format::<wire::path_record::Record>();
    format::<wire::path_record::PathRecordMask>();
    format::<wire::path_record::Repr>();
    format::<wire::port_info_record::PortState>();
    format::<wire::port_info_record::PortInfo>();
    format::<wire::port_info_record::Record>();
    format::<wire::port_info_record::PortInfoRecordMask>();
    format::<wire::port_info_record::PortInfoRepr>();
    format::<wire::port_info_record::Repr>();
    format::<wire::record::SaRecord<'static>>();
    format::<wire::rmpp_header::RmppType>();
    format::<wire::rmpp_header::RmppStatus>();
    format::<wire::rmpp_header::RmppFlags>();
    format::<wire::rmpp_header::Header>();
    format::<wire::rmpp_header::Repr>();
    format::<wire::sa_header::Header>();
    format::<wire::sa_header::Repr>();
    format::<wire::sa_packet::SaPacket<&'static [u8]>>();
    format::<wire::sa_packet::Records<'static>>();
    format::<wire::sa_packet::SaMad>();
    format::<wire::service_record::Record>();
    format::<wire::service_record::ServiceRecordMask>();
    format::<wire::service_record::Repr>();
    format::<wire::status::MadStatusCode>();
    format::<wire::status::SaStatusCode>();
    format::<wire::status::MadStatus>();
    format::<wire::status::SaError>();

    format::<rmpp::Config>();
    format::<rmpp::Endpoint<1, 256, 1, 256>>();
    format::<rmpp::Failure>();
    format::<rmpp::Event>();
    format::<rmpp::Dropped>();
    format::<rmpp::Rejection>();
    format::<rmpp::Outcome>();
    format::<rmpp::TransferKey>();
    format::<rmpp::RecvId>();
    format::<rmpp::SendId>();
    format::<rmpp::Receiver<1, 256>>();
    format::<rmpp::SendError>();
    format::<rmpp::Sender<1, 256>>();

    format::<table::Counters>();
    format::<table::Config>();
    format::<table::PinPolicy>();
    format::<table::Lookup>();
    format::<table::Insert>();
    format::<table::Table<1>>();
    format::<table::EntryKind>();
    format::<table::EntryView<'static>>();
    format::<table::Iter<'static, 1>>();
    format::<table::query::Query>();
    format::<table::query::Natural>();
    format::<table::query::Context>();
    format::<table::query::Origin>();

    format::<engine::Upstream>();
    format::<engine::Mode>();
    format::<engine::SmChangePolicy>();
    format::<engine::Config>();
    format::<engine::Source>();
    format::<engine::Answer>();
    format::<engine::ResolveError>();
    format::<engine::Resolve>();
    format::<engine::Invalidation>();
    format::<engine::Event>();
    format::<engine::ResolveFlags>();
    format::<engine::Transmit>();
    format::<engine::Engine<1, 1, 1, 1, 256, 1, 256>>();
    format::<engine::LocalPort>();
    format::<engine::Stats>();
};
