// GENERATED FILE, do not edit. Made by: daisynet export firmware/model/model.keras -o firmware/model/model_defn.h --golden-input firmware/model/golden_input.wav
// daisynet model "daisynet_wavenet": 465 parameters, 424 MACs/sample, receptive field
// 256 samples (5.3 ms at 48000 Hz), weights float32.
#pragma once

#include <cstddef>
#include <cstdint>

namespace daisynet::model {

// The version of the model_defn.h format this file follows (MODEL_DEFN_FORMAT_VERSION in
// host_sim/model_defn/spec.py): the engine and daisynet's reader refuse a version they do not
// know, so a header and an engine from different daisynet versions never meet silently.
inline constexpr std::uint32_t kModelDefnFormatVersion = 3;
inline constexpr char kModelName[] = "daisynet_wavenet";
// SHA-256 of everything that changes behaviour: each layer's shape (kernel, dilation, in, out,
// relu as uint32), weights and bias (float32), little-endian, in layer order; then
// {"inputs":[...],"outputs":[...],"sample_rate":N}
// (ModelSpec.weights_sha256 in host_sim/model_defn/spec.py).
inline constexpr char kWeightsSha256[] = "eeeeca6260cd8084d2dd5417cd3dd43b56d7e1c6b790280465022c5898d0899b";
inline constexpr std::uint32_t kWeightsHash32 = 0xeeeeca62u;  // first 8 hex digits above
inline constexpr float kSampleRate = 48000.0f;  // Hz the model was trained at
enum class NumberFormat { kFloat32, kQ15, kQ7 };  // of weights and activations
inline constexpr NumberFormat kNumberFormat = NumberFormat::kFloat32;
// The model family: the engine that runs this header (GRU headers also #define
// DAISYNET_MODEL_FAMILY_GRU, for the firmware's #if).
enum class ModelFamily { kWavenet, kGru };
inline constexpr ModelFamily kModelFamily = ModelFamily::kWavenet;

// Process() takes the input channels in this order, each a float per frame: audio in
// -2..2 (the Patch's full scale), knobs/CV 0..1, as the datalogger records them.
inline constexpr std::size_t kNumInputs = 3;
inline constexpr const char* kInputNames[kNumInputs] = {"knob_1", "knob_2", "audio_in_1"};
inline constexpr std::size_t kNumOutputs = 1;
inline constexpr const char* kOutputNames[kNumOutputs] = {"audio_in_2"};

// Architecture: block i = causal Conv1D(kBlockFilters[i], kKernelSize, dilation
// kKernelSize**i, relu) then Conv1D(kBlockFilters[i], 1, relu); a linear 1x1 head follows.
inline constexpr std::size_t kKernelSize = 4;
inline constexpr std::size_t kNumBlocks = 4;
inline constexpr std::size_t kBlockFilters[kNumBlocks] = {4, 4, 4, 8};
inline constexpr std::size_t kReceptiveField = 256;  // samples
inline constexpr std::size_t kParameters = 465;
inline constexpr std::size_t kMacsPerSample = 424;

// Layer l: out[t] = act(bias + sum_k in[t - (kernel - 1 - k) * dilation] * W[k]) where W[k]
// is an (in_channels x out_channels) row-major matrix; weights are laid out [k][in][out].
struct LayerDefn {
  std::size_t kernel;
  std::size_t dilation;
  std::size_t in_channels;
  std::size_t out_channels;
  bool relu;
  const float* weights;  // kernel * in_channels * out_channels floats
  const float* bias;     // out_channels floats
};

// layer 0: block0_dilated, kernel 4, dilation 1, 3 -> 4, relu
alignas(16) inline constexpr float kLayer0Weights[48] = {
    -0.267769486f, 0.566695511f, 0.150450557f, -0.0654076561f, -0.363035709f, 0.471805781f,
    0.375338554f, 0.439357072f, 1.21774852f, 0.0920008346f, -0.199648485f, 0.00200758781f,
    -0.070640713f, 0.232209757f, -0.182002842f, -0.0250191335f, 0.0637955144f, 0.497760534f,
    0.323852211f, 0.352297902f, -0.434488267f, -0.319774628f, 0.129346058f, -0.122777611f,
    -0.456289232f, 0.341599494f, 0.151759878f, 0.186704636f, -0.306184947f, 0.399561822f,
    0.0450051576f, 0.331975251f, -1.40409887f, -0.0543241203f, 1.44124043f, -1.08199346f,
    -0.482525051f, 0.350000679f, -0.0539608598f, -0.198075712f, -0.466717482f, -0.0181370266f,
    0.372270077f, 0.365200877f, -0.285570383f, -0.0539662838f, -1.55773103f, 1.48279846f,
};
alignas(16) inline constexpr float kLayer0Bias[4] = {
    0.349298388f, -1.11538398f, 0.382769138f, -0.118634023f,
};
static_assert(sizeof(kLayer0Weights) / sizeof(float) == 4 * 3 * 4, "layer 0");

// layer 1: block0_mix, kernel 1, dilation 1, 4 -> 4, relu
alignas(16) inline constexpr float kLayer1Weights[16] = {
    0.0322545283f, 0.0847154632f, -2.12452817f, 0.044631958f, 0.600307286f, -0.712794542f,
    0.0559283905f, -0.208721161f, 0.849962413f, 0.462561101f, 0.782643139f, -0.660917759f,
    -0.821470141f, 1.07131076f, -0.186721876f, -0.786296546f,
};
alignas(16) inline constexpr float kLayer1Bias[4] = {
    0.191494569f, -0.522552073f, -0.239198521f, 0.0f,
};
static_assert(sizeof(kLayer1Weights) / sizeof(float) == 1 * 4 * 4, "layer 1");

// layer 2: block1_dilated, kernel 4, dilation 4, 4 -> 4, relu
alignas(16) inline constexpr float kLayer2Weights[64] = {
    -0.0528732203f, 0.106748603f, 0.136162058f, -0.103758343f, 0.259457171f, 0.504629374f,
    0.463813841f, 0.395178407f, -0.264802843f, 0.172131047f, 0.186031342f, 0.675346732f,
    0.17004934f, -0.260013849f, -0.35439676f, 0.228951007f, 0.0518998578f, 0.535978019f,
    0.467286885f, -0.401696086f, 0.359013349f, -0.0122967176f, 0.246580139f, 0.11265263f,
    -0.537754476f, -0.0612605736f, 0.313173652f, 0.104094036f, 0.394920737f, 0.398841649f,
    0.00676748157f, 0.320369333f, 1.45643032f, 1.20198226f, 0.310850173f, -1.02402353f,
    0.0142772831f, 0.532448113f, -1.48648047f, 0.30361402f, -0.359292328f, -0.931766391f,
    1.22799754f, -0.0485341996f, -0.333093524f, 0.267650872f, 0.00621855259f, 0.312393457f,
    -0.0270075481f, -0.639062881f, -0.416389138f, 0.346510381f, 0.486394912f, 0.288769573f,
    -0.715196192f, -0.761129022f, -1.54514742f, -0.479918897f, -0.557600319f, 1.36992562f,
    0.367135853f, -0.0293578804f, 0.212920159f, 0.243570596f,
};
alignas(16) inline constexpr float kLayer2Bias[4] = {
    -0.341185987f, -0.344721943f, -0.148004934f, -0.470605165f,
};
static_assert(sizeof(kLayer2Weights) / sizeof(float) == 4 * 4 * 4, "layer 2");

// layer 3: block1_mix, kernel 1, dilation 1, 4 -> 4, relu
alignas(16) inline constexpr float kLayer3Weights[16] = {
    1.014202f, -0.31886664f, -0.0247175861f, 0.335397601f, 0.633163154f, -1.35306847f,
    -1.05678785f, 0.674129486f, -0.188066423f, 1.09152591f, 0.941976964f, -0.769630551f,
    -1.65591431f, 0.326846689f, -0.122983798f, -0.68287009f,
};
alignas(16) inline constexpr float kLayer3Bias[4] = {
    -0.0380745567f, 0.244518414f, -0.537604153f, -0.0558974631f,
};
static_assert(sizeof(kLayer3Weights) / sizeof(float) == 1 * 4 * 4, "layer 3");

// layer 4: block2_dilated, kernel 4, dilation 16, 4 -> 4, relu
alignas(16) inline constexpr float kLayer4Weights[64] = {
    0.0623444021f, 0.236415982f, 0.0760240778f, 0.199124664f, 0.0190456863f, -0.242698058f,
    0.0239641871f, -0.67494303f, -0.00233169273f, 0.448135763f, -0.0288278088f, 0.26120019f,
    -0.0153734945f, 0.185514703f, 0.199942484f, -0.196926534f, 0.0523688011f, 0.428530753f,
    -0.0682174414f, 0.224106193f, 0.00618625851f, -0.106594816f, 0.294826061f, -0.604277968f,
    0.00283397525f, 0.175451681f, -0.1485558f, 0.467633218f, -0.0217872281f, 0.325061172f,
    0.00502737146f, 0.0445639938f, 0.125972867f, 0.82426995f, 0.134149775f, 0.57075119f,
    0.0166829973f, 0.133082837f, 0.119192049f, -1.35635626f, -0.00400145585f, 0.251323134f,
    0.468224585f, 0.0220332071f, -0.094283767f, 0.626999736f, -1.30211818f, -0.23013337f,
    0.553516865f, -1.3913238f, -0.981228232f, -1.43094051f, 1.00670266f, -0.869498312f,
    -0.197603494f, -1.25265348f, -2.1184485f, 0.856304467f, -0.89069581f, -0.211209729f,
    1.00854957f, -1.13947129f, 0.829060853f, 0.178247765f,
};
alignas(16) inline constexpr float kLayer4Bias[4] = {
    -0.13622053f, -0.0667248368f, -0.34754321f, 0.370515078f,
};
static_assert(sizeof(kLayer4Weights) / sizeof(float) == 4 * 4 * 4, "layer 4");

// layer 5: block2_mix, kernel 1, dilation 1, 4 -> 4, relu
alignas(16) inline constexpr float kLayer5Weights[16] = {
    0.75894022f, -0.460254878f, -0.670691788f, -0.839106679f, -1.10631704f, 0.277105153f,
    1.52575803f, 0.903090596f, 0.790633619f, -0.35863772f, -0.995342791f, -1.48458457f,
    0.669843495f, -0.822057486f, -1.4140718f, 0.0418400802f,
};
alignas(16) inline constexpr float kLayer5Bias[4] = {
    0.521528482f, 0.34326756f, 0.436765313f, 0.548006117f,
};
static_assert(sizeof(kLayer5Weights) / sizeof(float) == 1 * 4 * 4, "layer 5");

// layer 6: block3_dilated, kernel 4, dilation 64, 4 -> 8, relu
alignas(16) inline constexpr float kLayer6Weights[128] = {
    0.0690242723f, 0.362880886f, -0.166715384f, 0.188086018f, 0.0417074785f, 0.0677019581f,
    -0.143990561f, 0.0370859019f, -0.0382914469f, 0.0844046101f, -0.0268002898f, 0.0978818983f,
    0.233004585f, 0.0372526795f, -0.320510417f, 0.0741567165f, 0.265172333f, -0.0207926128f,
    -0.6592924f, 0.216783449f, -0.130599797f, -0.0033237536f, -0.207774773f, 0.109978341f,
    -0.0808495283f, 0.317117274f, 0.238681197f, 0.0432852879f, 0.156309232f, 0.0602102317f,
    -0.153807193f, -0.0429028124f, -0.184642807f, 0.0122176278f, -0.0432888456f, -0.09611471f,
    -0.0647932738f, 0.0679307729f, -0.0254073776f, -0.0419966541f, 0.135239661f, -0.0758935511f,
    0.355124682f, 0.24581553f, 0.309470594f, 0.0133178029f, -0.0492953174f, 0.195550486f,
    0.0797893181f, -0.024837954f, 0.0593938977f, 0.145688117f, -0.418662935f, 0.118036926f,
    -0.0410459451f, 0.0430275574f, -0.0386763215f, 0.078383863f, 0.669780254f, -0.00761372363f,
    0.220578238f, 0.0116256298f, -0.28532061f, -0.0605355538f, -0.212083787f, 0.154250219f,
    -0.4982526f, -0.108700544f, 0.142393768f, -0.00886769965f, -0.11197307f, 0.379226714f,
    -0.233434141f, -0.327132434f, 0.445686936f, -0.324336082f, 0.109233186f, -0.0701639652f,
    0.219064862f, 0.256779015f, 0.506659269f, -0.020294169f, -0.281802237f, 0.798441648f,
    -0.493345171f, 0.209422171f, -0.291385144f, 0.496989429f, 0.0539623946f, 0.234808043f,
    0.118005022f, -0.00743518071f, 0.311103493f, -0.0513964333f, -0.145747975f, 0.00291843154f,
    0.38638258f, -1.45366204f, -0.436978161f, 0.115656689f, 0.235819548f, -0.479576081f,
    -0.0908142328f, -0.555517614f, 0.511992872f, 0.281259447f, 0.0764514729f, -1.04911697f,
    -1.27147067f, 1.43600047f, 0.106676847f, 0.882951915f, 0.50459069f, -1.69976115f,
    -0.0570843853f, 1.0545007f, -1.76753175f, -0.971947491f, -0.132112935f, -0.856626034f,
    0.644282579f, 1.76035166f, 0.0406558551f, -0.837328613f, -0.0771378651f, 0.360486537f,
    0.0338986255f, 0.223468527f,
};
alignas(16) inline constexpr float kLayer6Bias[8] = {
    -0.320538223f, 0.443041742f, -0.157573014f, 0.230256021f, 0.14074856f, 0.251309454f,
    -0.0493723936f, 0.158532843f,
};
static_assert(sizeof(kLayer6Weights) / sizeof(float) == 4 * 4 * 8, "layer 6");

// layer 7: block3_mix, kernel 1, dilation 1, 8 -> 8, relu
alignas(16) inline constexpr float kLayer7Weights[64] = {
    -0.152020961f, -0.354025334f, 0.293495715f, 0.247510746f, -0.514990509f, 0.40579024f,
    0.152207568f, -0.869871199f, 0.920455515f, -1.65949154f, 0.393691748f, 1.17294991f,
    -0.599676073f, -0.82524085f, -0.0442557856f, -2.03111196f, 0.556384087f, -0.103953026f,
    -0.0804188177f, 0.282227933f, -0.0715273023f, -0.195729762f, 0.0852244124f, 0.603021681f,
    0.220070213f, 0.307768941f, -0.495426655f, -0.503806412f, 0.563563049f, -0.196727827f,
    0.0705005676f, -0.675495505f, -0.542236865f, 0.434430689f, 0.63802582f, 0.569879949f,
    0.00443096831f, -0.611310482f, -0.344074041f, 0.426136255f, 0.0292327125f, 0.17818518f,
    0.646561027f, 1.03738129f, -1.07953727f, 0.248959869f, -0.669794679f, -0.308024228f,
    -0.15658316f, 0.14591445f, -0.480087191f, 0.65090692f, 0.45469889f, 0.111074746f,
    0.330435842f, 0.144851923f, 0.595801771f, -0.173344195f, 0.476560533f, 0.819300532f,
    -0.129757226f, 0.014994544f, -0.419474751f, 0.134400517f,
};
alignas(16) inline constexpr float kLayer7Bias[8] = {
    0.0159868076f, -0.0294497404f, -0.491814971f, -0.0193744022f, 0.168479919f, 0.300310016f,
    -0.0931893736f, 0.124395646f,
};
static_assert(sizeof(kLayer7Weights) / sizeof(float) == 1 * 8 * 8, "layer 7");

// layer 8: head, kernel 1, dilation 1, 8 -> 1, linear
alignas(16) inline constexpr float kLayer8Weights[8] = {
    -0.769363582f, -1.02437961f, -1.44399476f, 1.17219019f, -0.779245436f, 0.480198383f,
    0.244468927f, -1.9922049f,
};
alignas(16) inline constexpr float kLayer8Bias[1] = {
    -0.0188997183f,
};
static_assert(sizeof(kLayer8Weights) / sizeof(float) == 1 * 8 * 1, "layer 8");

inline constexpr std::size_t kNumLayers = 9;
inline constexpr LayerDefn kLayers[kNumLayers] = {
    {4, 1, 3, 4, true, kLayer0Weights, kLayer0Bias},
    {1, 1, 4, 4, true, kLayer1Weights, kLayer1Bias},
    {4, 4, 4, 4, true, kLayer2Weights, kLayer2Bias},
    {1, 1, 4, 4, true, kLayer3Weights, kLayer3Bias},
    {4, 16, 4, 4, true, kLayer4Weights, kLayer4Bias},
    {1, 1, 4, 4, true, kLayer5Weights, kLayer5Bias},
    {4, 64, 4, 8, true, kLayer6Weights, kLayer6Bias},
    {1, 1, 8, 8, true, kLayer7Weights, kLayer7Bias},
    {1, 1, 8, 1, false, kLayer8Weights, kLayer8Bias},
};

static_assert(kLayers[0].in_channels == kNumInputs, "first layer reads the model inputs");
static_assert(kLayers[kNumLayers - 1].out_channels == kNumOutputs, "head writes the outputs");
static_assert(kNumLayers == 2 * kNumBlocks + 1, "two layers per block plus the head");

// The boot self-check (firmware/core/self_check.h): the app runs kSelfCheckFrames
// frames of the check input (host_sim/self_check.py: a 32-bit xorshift, the same on
// host and device) through the model at blocks of 48 and compares every
// kSelfCheckStride-th output with kSelfCheckOutputs, which the same engine code
// computed on the emulated Cortex-M7 with the Daisy's flags.
// Tolerance: 1e-5 of the largest reference magnitude (at least 1). The engine's hot
// loops fix their order of operations in assembly, but the C++ around them may be
// contracted into fused multiply-adds differently by another compiler version; an
// x86-64 build of the same engine stays within a quarter of this, while a wrong
// weight moves the outputs by far more.
inline constexpr std::size_t kSelfCheckFrames = 1024;
inline constexpr std::size_t kSelfCheckStride = 32;
inline constexpr float kSelfCheckTolerance = 1.23694526e-05f;
// Emulated instructions per sample of the check's run (one cycle each would be this
// many cycles): the device prints its measured cycles beside it.
inline constexpr std::uint32_t kSelfCheckInstructionsPerSample = 656;
// Output o of frame (i + 1) * kSelfCheckStride - 1 at [i * kNumOutputs + o].
inline constexpr float kSelfCheckOutputs[32] = {
    -0.0680469796f, 0.232982531f, -0.230126619f, 1.23694527f, -0.0766579881f, 0.79628253f,
    -0.423025668f, -0.782274127f, -0.603486776f, 0.568401873f, 0.382403463f, -0.706208706f,
    -0.438516825f, 0.176813439f, -0.812399209f, -0.94262737f, -0.467924625f, -0.611076355f,
    0.686324775f, 0.161457866f, -0.604092777f, -0.856417418f, 0.292274892f, -0.217495084f,
    -0.68082422f, -0.701637208f, -0.729244947f, -0.698355496f, -0.799213529f, -0.727646828f,
    0.799642801f, -0.679199457f,
};
static_assert(kSelfCheckFrames / kSelfCheckStride * kNumOutputs == 32, "self-check outputs");

}  // namespace daisynet::model
