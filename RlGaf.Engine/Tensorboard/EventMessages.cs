using System.Text;
using RlGaf.Engine.Runs;

namespace RlGaf.Engine.Tensorboard;

/// <summary>
/// The protobuf messages of a TensorBoard event file, encoded by hand. Field numbers are those of
/// tensorflow/core/util/event.proto (Event, SessionLog), tensorflow/core/framework/summary.proto
/// (Summary, SummaryMetadata), tensor.proto / tensor_shape.proto, and the HParams plugin's
/// tensorboard/plugins/hparams/plugin_data.proto and api.proto; google.protobuf.Value from struct.proto.
/// </summary>
internal static class EventMessages
{
    /// <summary>The first event of every file: TensorBoard checks it.</summary>
    public const string FileVersion = "brain.Event:2";
    /// <summary>HParams plugin's tags (tensorboard/plugins/hparams/metadata.py).</summary>
    public const string ExperimentTag = "_hparams_/experiment", SessionStartTag = "_hparams_/session_start_info", SessionEndTag = "_hparams_/session_end_info";

    // Event: wall_time 1 (double), step 2 (int64), file_version 3, summary 5, session_log 7.
    public static byte[] FileVersionEvent(double wallTime) => new ProtoWriter().Double(1, wallTime).String(3, FileVersion).ToArray();

    public static byte[] SummaryEvent(double wallTime, long step, Action<ProtoWriter> summary) =>
        new ProtoWriter().Double(1, wallTime).Int(2, step).Message(5, summary).ToArray();

    /// <summary>SessionLog{status START = 1, msg 3}: TensorBoard drops what the files logged at or after this step (a restart from a checkpoint).</summary>
    public static byte[] SessionStartEvent(double wallTime, long step, string message) =>
        new ProtoWriter().Double(1, wallTime).Int(2, step).Message(7, l => l.Int(1, 1).String(3, message)).ToArray();

    // Summary.value 1 (repeated Value); Value: tag 1, simple_value 2 (float), tensor 8, metadata 9.
    public static void Scalar(ProtoWriter summary, string tag, double value) =>
        summary.Message(1, v => v.String(1, tag).Float(2, (float)value));

    /// <summary>A text summary as the text plugin reads it: a DT_STRING tensor of shape [1] holding markdown.</summary>
    public static void Text(ProtoWriter summary, string tag, string markdown) =>
        summary.Message(1, v => v
            .String(1, tag)
            // TensorProto: dtype 1 (DT_STRING = 7), tensor_shape 2 (dim 2 {size 1}), string_val 8.
            .Message(8, t => t.Int(1, 7).Message(2, shape => shape.Message(2, dim => dim.Int(1, 1))).Bytes(8, Encoding.UTF8.GetBytes(markdown)))
            // SummaryMetadata.plugin_data 1 {plugin_name 1, content 2 (TextPluginData{version 0}: empty)}.
            .Message(9, m => m.Message(1, p => p.String(1, "text").Bytes(2, []))));

    /// <summary>An HParams plugin summary: the plugin data in the metadata, a null float tensor as the value (as TensorBoard's own writer does).</summary>
    private static void HParams(ProtoWriter summary, string tag, Action<ProtoWriter> pluginData) =>
        summary.Message(1, v => v
            .String(1, tag)
            .Message(8, t => t.Int(1, 1).Message(2, _ => { }).Bytes(5, BitConverter.GetBytes(0f))) // DT_FLOAT, scalar, float_val [0] (packed)
            .Message(9, m => m.Message(1, p => p.String(1, "hparams").Message(2, pluginData))));

    // HParamsPluginData: version 1, experiment 2, session_start_info 3, session_end_info 4.
    /// <summary>SessionStartInfo{hparams 1 (map string -> google.protobuf.Value), group_name 4, start_time_secs 5}.</summary>
    public static void SessionStart(ProtoWriter summary, IEnumerable<(string Name, object Value)> hparams, string group, double startTime) =>
        HParams(summary, SessionStartTag, d => d.Int(1, 0).Message(3, s =>
        {
            foreach (var (name, value) in hparams)
                s.Message(1, entry => entry.String(1, name).Message(2, v => WriteValue(v, value)));
            s.String(4, group).Double(5, startTime);
        }));

    /// <summary>
    /// Experiment{time_created_secs 3, hparam_infos 4 {name 1, description 3, type 4, domain_discrete 5 (ListValue{values 1})},
    /// metric_infos 5 {name 1 {group 1, tag 2}}}: the HParams dashboard's columns; a setting with a fixed set of values
    /// (an enum, a bool) gives them as its discrete domain, so the dashboard offers them as filter checkboxes.
    /// </summary>
    public static void Experiment(ProtoWriter summary, IEnumerable<(string Name, string Description, object Example, IReadOnlyList<object>? Domain)> hparams,
        IEnumerable<string> metricTags, double time) =>
        HParams(summary, ExperimentTag, d => d.Int(1, 0).Message(2, e =>
        {
            e.Double(3, time);
            foreach (var (name, description, example, domain) in hparams)
                e.Message(4, h =>
                {
                    h.String(1, name).String(3, description).Int(4, example switch { bool => 2, double or int or long or float => 3, _ => 1 });
                    if (domain is { Count: > 0 }) h.Message(5, list => { foreach (var v in domain) list.Message(1, x => WriteValue(x, v)); });
                });
            foreach (var tag in metricTags)
                e.Message(5, m => m.Message(1, n => n.String(1, "").String(2, tag)));
        }));

    /// <summary>SessionEndInfo{status 1 (UNKNOWN 0, SUCCESS 1, FAILURE 2, RUNNING 3), end_time_secs 2}.</summary>
    public static void SessionEnd(ProtoWriter summary, int status, double endTime) =>
        HParams(summary, SessionEndTag, d => d.Int(1, 0).Message(4, s => s.Int(1, status).Double(2, endTime)));

    /// <summary>google.protobuf.Value: number_value 2, string_value 3, bool_value 4.</summary>
    private static void WriteValue(ProtoWriter v, object value)
    {
        switch (value)
        {
            case bool b: v.Bool(4, b); break;
            case double d: v.Double(2, d); break;
            case int i: v.Double(2, i); break;
            default: v.String(3, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? ""); break;
        }
    }

    /// <summary>The values a setting can take when they are a fixed set: an enum's names as settings files spell them, or false and true.</summary>
    public static IReadOnlyList<object>? SettingDomain(string key)
    {
        var m = RunSettings.MetadataOf(key);
        if (m.Type == typeof(bool)) return [false, true];
        if (m.Type.IsEnum) return Enum.GetNames(m.Type).Select(n => (object)System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(n)).ToList();
        return null;
    }

    /// <summary>A setting as an HParams value: numbers and booleans typed, everything else (enums, paths) as text.</summary>
    public static object SettingValue(RunSettings s, string key)
    {
        var m = RunSettings.MetadataOf(key);
        string text = s.Get(key);
        if (m.Type == typeof(bool)) return text == "true";
        if (m.Type == typeof(int) || m.Type == typeof(double)) return double.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
        return text;
    }
}
